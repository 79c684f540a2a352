//! A primary, one replica and three sentinels, as native processes, with short failure
//! detection so that a failover test finishes in seconds.
//!
//! ```no_run
//! use std::time::Duration;
//! use authstate_testkit::{RedisSentinelSet, require};
//!
//! let mut set = require(RedisSentinelSet::start());
//! let url = set.url(); // redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/authstate
//! let old = set.kill_primary().expect("a primary to kill");
//! let new = require(set.wait_for_failover(old, Duration::from_secs(30)));
//! # let _ = (url, new);
//! ```

use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::{Result, TestkitError};
use crate::process::{LOCALHOST, NativeServer};
use crate::redis::{
    AclUser, REDIS_SERVER, RedisOptions, RedisServer, RespConn, RespReply, ping_probe,
};

/// How to start a [`RedisSentinelSet`].
#[derive(Debug, Clone)]
pub struct SentinelOptions {
    /// The name the sentinels monitor the primary under.
    pub master_name: String,
    /// `sentinel down-after-milliseconds`: how long the primary may be silent before a
    /// sentinel considers it down.
    pub down_after: Duration,
    /// `sentinel failover-timeout`.
    pub failover_timeout: Duration,
    /// `requirepass` of the sentinels (and `sentinel sentinel-pass`, so they still talk to
    /// each other).
    pub sentinel_password: Option<String>,
    /// An ACL user on the primary and the replica; the `default` user is turned off, and
    /// replication and the sentinels authenticate as this user.
    pub data_user: Option<AclUser>,
    /// How long [`RedisSentinelSet::start`] waits for replication and for the sentinels to
    /// find each other.
    pub ready_timeout: Duration,
}

impl Default for SentinelOptions {
    fn default() -> Self {
        SentinelOptions {
            master_name: "authstate".to_owned(),
            down_after: Duration::from_millis(1000),
            failover_timeout: Duration::from_millis(3000),
            sentinel_password: None,
            data_user: None,
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// A primary, a replica of it and three sentinels monitoring it with quorum 2, all on
/// `127.0.0.1`; everything is stopped on drop.
#[derive(Debug)]
pub struct RedisSentinelSet {
    primary: Option<RedisServer>,
    replica: RedisServer,
    sentinels: Vec<NativeServer>,
    primary_addr: SocketAddr,
    options: SentinelOptions,
}

impl RedisSentinelSet {
    /// Starts the set with default options.
    pub fn start() -> Result<Self> {
        Self::start_with(SentinelOptions::default())
    }

    /// Starts the primary, the replica (and waits until it is in sync), then the three
    /// sentinels (and waits until each knows the replica and the two other sentinels).
    pub fn start_with(options: SentinelOptions) -> Result<Self> {
        // Without `repl-diskless-sync-delay 0` a primary waits 5 s for more replicas
        // before it streams the first sync: most of the set's start-up time.
        let data_options = |mut extra_args: Vec<String>| {
            extra_args.extend(["--repl-diskless-sync-delay".to_owned(), "0".to_owned()]);
            RedisOptions {
                user: options.data_user.clone(),
                default_user_off: options.data_user.is_some(),
                extra_args,
            }
        };
        let primary = RedisServer::start_with(data_options(Vec::new()))?;
        let mut replica_args = vec![
            "--replicaof".to_owned(),
            LOCALHOST.to_owned(),
            primary.port().to_string(),
        ];
        if let Some(user) = &options.data_user {
            replica_args.extend([
                "--masteruser".to_owned(),
                user.name.clone(),
                "--masterauth".to_owned(),
                user.password.clone(),
            ]);
        }
        let replica = RedisServer::start_with(data_options(replica_args))?;
        let deadline = Instant::now() + options.ready_timeout;
        let data_auth = options
            .data_user
            .as_ref()
            .map(|u| (u.name.as_str(), u.password.as_str()));
        wait_until(deadline, "the replica to be in sync", || {
            let info = command(replica.addr(), data_auth, &["INFO", "replication"])?;
            Ok(text(&info).contains("master_link_status:up"))
        })?;

        let primary_addr = primary.addr();
        let mut sentinels = Vec::with_capacity(3);
        for _ in 0..3 {
            sentinels.push(start_sentinel(&options, primary_addr)?);
        }
        let sentinel_auth = options.sentinel_password.as_deref().map(|p| ("default", p));
        for sentinel in &sentinels {
            wait_until(
                deadline,
                "the sentinels to know the replica and each other",
                || {
                    let replicas = command(
                        sentinel.addr(),
                        sentinel_auth,
                        &["SENTINEL", "REPLICAS", &options.master_name],
                    )?;
                    let peers = command(
                        sentinel.addr(),
                        sentinel_auth,
                        &["SENTINEL", "SENTINELS", &options.master_name],
                    )?;
                    Ok(array_len(&replicas) >= 1 && array_len(&peers) >= 2)
                },
            )?;
        }
        Ok(RedisSentinelSet {
            primary: Some(primary),
            replica,
            sentinels,
            primary_addr,
            options,
        })
    }

    /// `redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/MASTER_NAME`.
    pub fn url(&self) -> String {
        format!(
            "redis+sentinel://{}/{}",
            self.sentinel_addrs()
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(","),
            self.options.master_name
        )
    }

    /// The name the sentinels monitor the primary under.
    pub fn master_name(&self) -> &str {
        &self.options.master_name
    }

    /// The three sentinels' addresses.
    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(NativeServer::addr).collect()
    }

    /// The address the primary was started on (it stays the same after a failover).
    pub fn initial_primary_addr(&self) -> SocketAddr {
        self.primary_addr
    }

    /// The replica's address (the primary after a failover).
    pub fn replica_addr(&self) -> SocketAddr {
        self.replica.addr()
    }

    /// The options it was started with.
    pub fn options(&self) -> &SentinelOptions {
        &self.options
    }

    /// Kills the primary (SIGKILL) and returns its address; `None` if it was killed
    /// already.
    pub fn kill_primary(&mut self) -> Option<SocketAddr> {
        self.primary.take().map(|primary| {
            let addr = primary.addr();
            drop(primary);
            addr
        })
    }

    /// Asks a sentinel for a failover without a failure (`SENTINEL FAILOVER`): the replica
    /// is promoted and the old primary becomes its replica. Returns the old primary's
    /// address.
    pub fn request_failover(&self) -> Result<SocketAddr> {
        let old = self.master_addr()?;
        let auth = self
            .options
            .sentinel_password
            .as_deref()
            .map(|p| ("default", p));
        let addr = self.sentinels[0].addr();
        let reply = command(
            addr,
            auth,
            &["SENTINEL", "FAILOVER", &self.options.master_name],
        )
        .map_err(|e| TestkitError::io(format!("SENTINEL FAILOVER on {addr}"), e))?;
        match reply {
            RespReply::Simple(ok) if ok == "OK" => Ok(old),
            other => Err(TestkitError::io(
                format!("SENTINEL FAILOVER on {addr}"),
                io::Error::other(format!("answered {other:?}")),
            )),
        }
    }

    /// Where the first sentinel that answers says the master is.
    pub fn master_addr(&self) -> Result<SocketAddr> {
        let auth = self
            .options
            .sentinel_password
            .as_deref()
            .map(|p| ("default", p));
        let mut last = String::from("no sentinel");
        for sentinel in &self.sentinels {
            match command(
                sentinel.addr(),
                auth,
                &[
                    "SENTINEL",
                    "GET-MASTER-ADDR-BY-NAME",
                    &self.options.master_name,
                ],
            ) {
                Ok(RespReply::Array(Some(items))) => match items.as_slice() {
                    [RespReply::Bulk(Some(host)), RespReply::Bulk(Some(port))] => {
                        let addr = format!(
                            "{}:{}",
                            String::from_utf8_lossy(host),
                            String::from_utf8_lossy(port)
                        );
                        return addr.parse().map_err(|_| {
                            TestkitError::InvalidOptions(format!(
                                "a sentinel named the master {addr:?}"
                            ))
                        });
                    }
                    other => last = format!("{other:?}"),
                },
                Ok(other) => last = format!("{other:?}"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(TestkitError::io(
            "asking the sentinels for the master",
            io::Error::other(last),
        ))
    }

    /// Waits until the sentinels name a master other than `old` and that master says
    /// `role:master`; returns its address.
    pub fn wait_for_failover(&self, old: SocketAddr, timeout: Duration) -> Result<SocketAddr> {
        let deadline = Instant::now() + timeout;
        let data_auth = self
            .options
            .data_user
            .as_ref()
            .map(|u| (u.name.as_str(), u.password.as_str()));
        let mut promoted = None;
        wait_until(deadline, "the sentinels to promote the replica", || {
            let Ok(addr) = self.master_addr() else {
                return Ok(false);
            };
            if addr == old {
                return Ok(false);
            }
            let info = command(addr, data_auth, &["INFO", "replication"])?;
            if text(&info).contains("role:master") {
                promoted = Some(addr);
                return Ok(true);
            }
            Ok(false)
        })?;
        promoted.ok_or_else(|| TestkitError::InvalidOptions("no master after failover".into()))
    }

    /// The logs of every process, labelled, for a failing test's report.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Some(primary) = &self.primary {
            out.push_str(&format!(
                "---- primary {} ----\n{}\n",
                primary.addr(),
                primary.native().log_tail(40)
            ));
        }
        out.push_str(&format!(
            "---- replica {} ----\n{}\n",
            self.replica.addr(),
            self.replica.native().log_tail(40)
        ));
        for s in &self.sentinels {
            out.push_str(&format!(
                "---- sentinel {} ----\n{}\n",
                s.addr(),
                s.log_tail(40)
            ));
        }
        out
    }
}

fn start_sentinel(options: &SentinelOptions, primary: SocketAddr) -> Result<NativeServer> {
    NativeServer::launch(REDIS_SERVER).start(
        |dir| {
            let name = &options.master_name;
            let mut conf = format!(
                "port {port}\n\
                 bind 127.0.0.1\n\
                 daemonize no\n\
                 dir {dir}\n\
                 sentinel monitor {name} {host} {primary_port} 2\n\
                 sentinel down-after-milliseconds {name} {down}\n\
                 sentinel failover-timeout {name} {failover}\n\
                 sentinel parallel-syncs {name} 1\n",
                port = dir.port(),
                dir = dir.path().display(),
                host = primary.ip(),
                primary_port = primary.port(),
                down = options.down_after.as_millis(),
                failover = options.failover_timeout.as_millis(),
            );
            if let Some(user) = &options.data_user {
                conf.push_str(&format!(
                    "sentinel auth-user {name} {}\nsentinel auth-pass {name} {}\n",
                    user.name, user.password
                ));
            }
            if let Some(password) = &options.sentinel_password {
                conf.push_str(&format!(
                    "requirepass {password}\nsentinel sentinel-pass {password}\n"
                ));
            }
            // Sentinel rewrites its config file (it must be writable and its own).
            let path = dir.write("sentinel.conf", conf)?;
            Ok(vec![OsString::from(path), OsString::from("--sentinel")])
        },
        ping_probe,
    )
}

/// One command on a fresh connection, authenticating first when `auth` is set.
fn command(addr: SocketAddr, auth: Option<(&str, &str)>, args: &[&str]) -> io::Result<RespReply> {
    let mut conn = RespConn::connect(addr)?;
    if let Some((user, password)) = auth {
        match conn.command(&["AUTH", user, password])? {
            RespReply::Simple(ok) if ok == "OK" => {}
            other => return Err(io::Error::other(format!("AUTH answered {other:?}"))),
        }
    }
    conn.command(args)
}

fn text(reply: &RespReply) -> String {
    match reply {
        RespReply::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        RespReply::Simple(s) | RespReply::Error(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn array_len(reply: &RespReply) -> usize {
    match reply {
        RespReply::Array(Some(items)) => items.len(),
        _ => 0,
    }
}

/// Polls `check` every 100 ms until it says yes or `deadline` passes.
pub(crate) fn wait_until(
    deadline: Instant,
    what: &str,
    mut check: impl FnMut() -> io::Result<bool>,
) -> Result<()> {
    loop {
        let last = match check() {
            Ok(true) => return Ok(()),
            Ok(false) => "not yet".to_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(TestkitError::io(
                format!("waiting for {what}"),
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out; last check: {last}"),
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
