//! A Redis Cluster of three primaries (no replicas) as native processes.
//!
//! Each node gets two free ports: the client port and, through `--cluster-port`, the
//! cluster bus port (without it a client port above 55535 fails: the bus would be 10000
//! higher). The cluster is formed by hand — `CLUSTER ADDSLOTSRANGE` on each node for its
//! third of the 16384 slots, then `CLUSTER MEET` — so no `redis-cli --cluster` is needed,
//! and the kit waits until every node reports `cluster_state:ok`.
//!
//! ```no_run
//! use authstate_testkit::{RedisCluster, require};
//!
//! let cluster = require(RedisCluster::start());
//! let url = cluster.url(); // redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
//! # let _ = url;
//! ```

use std::cell::Cell;
use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::{Result, TestkitError};
use crate::process::NativeServer;
use crate::redis::{REDIS_SERVER, RespConn, RespReply, ping_probe};
use crate::redis_sentinel::wait_until;

/// The number of hash slots of a Redis Cluster.
pub const CLUSTER_SLOTS: u16 = 16384;

/// How to start a [`RedisCluster`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// How many primaries (at least 1; default 3).
    pub primaries: usize,
    /// `--cluster-node-timeout`.
    pub node_timeout: Duration,
    /// How long to wait for `cluster_state:ok`.
    pub ready_timeout: Duration,
    /// More `redis-server` arguments for every node, appended last.
    pub extra_args: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            primaries: 3,
            node_timeout: Duration::from_millis(2000),
            ready_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
        }
    }
}

/// One node: the process and its cluster bus port.
#[derive(Debug)]
pub struct ClusterNode {
    server: NativeServer,
    bus_port: u16,
}

impl ClusterNode {
    /// `127.0.0.1:PORT` (the client port).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The cluster bus port.
    pub fn bus_port(&self) -> u16 {
        self.bus_port
    }

    /// The process.
    pub fn native(&self) -> &NativeServer {
        &self.server
    }
}

/// A running cluster whose slots are all served; stopped on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<ClusterNode>,
}

impl RedisCluster {
    /// Three primaries.
    pub fn start() -> Result<Self> {
        Self::start_with(ClusterOptions::default())
    }

    /// Starts the nodes, assigns the slots, introduces the nodes and waits for
    /// `cluster_state:ok` on every one.
    pub fn start_with(options: ClusterOptions) -> Result<Self> {
        if options.primaries == 0 || options.primaries > usize::from(CLUSTER_SLOTS) {
            return Err(TestkitError::InvalidOptions(format!(
                "a cluster needs 1 to {CLUSTER_SLOTS} primaries, not {}",
                options.primaries
            )));
        }
        let mut nodes = Vec::with_capacity(options.primaries);
        for _ in 0..options.primaries {
            nodes.push(start_node(&options)?);
        }

        let count = nodes.len();
        for (i, node) in nodes.iter().enumerate() {
            let first = slot_bound(i, count);
            let last = slot_bound(i + 1, count) - 1;
            expect_ok(
                node.addr(),
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            )?;
        }
        if let Some((first, others)) = nodes.split_first() {
            for other in others {
                expect_ok(
                    first.addr(),
                    &[
                        "CLUSTER",
                        "MEET",
                        &other.addr().ip().to_string(),
                        &other.addr().port().to_string(),
                        &other.bus_port.to_string(),
                    ],
                )?;
            }
        }
        let deadline = Instant::now() + options.ready_timeout;
        let known = format!("cluster_known_nodes:{count}");
        for node in &nodes {
            wait_until(deadline, "cluster_state:ok on every node", || {
                let info = RespConn::connect(node.addr())?.command(&["CLUSTER", "INFO"])?;
                let info = match info {
                    RespReply::Bulk(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                    other => format!("{other:?}"),
                };
                Ok(info.contains("cluster_state:ok") && info.contains(&known))
            })?;
        }
        Ok(RedisCluster { nodes })
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…` (every node as a seed).
    pub fn url(&self) -> String {
        format!(
            "redis+cluster://{}",
            self.addrs()
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    }

    /// The client addresses of the nodes.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(ClusterNode::addr).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }
}

/// The first slot of part `i` of `count` (`slot_bound(count, count)` is 16384).
fn slot_bound(i: usize, count: usize) -> usize {
    i * usize::from(CLUSTER_SLOTS) / count
}

fn start_node(options: &ClusterOptions) -> Result<ClusterNode> {
    let bus_port = Cell::new(0);
    let server = NativeServer::launch(REDIS_SERVER).start(
        |dir| {
            let bus = dir.free_port()?;
            bus_port.set(bus);
            let mut args: Vec<OsString> = [
                "--port",
                &dir.port().to_string(),
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus.to_string(),
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &options.node_timeout.as_millis().to_string(),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(OsString::from)
            .into();
            args.extend(["--dir".into(), dir.path().into()]);
            args.extend(options.extra_args.iter().map(OsString::from));
            Ok(args)
        },
        ping_probe,
    )?;
    Ok(ClusterNode {
        server,
        bus_port: bus_port.get(),
    })
}

fn expect_ok(addr: SocketAddr, args: &[&str]) -> Result<()> {
    let reply = RespConn::connect(addr)
        .and_then(|mut conn| conn.command(args))
        .map_err(|e| TestkitError::io(format!("sending {} to {addr}", args.join(" ")), e))?;
    match reply {
        RespReply::Simple(ok) if ok == "OK" => Ok(()),
        other => Err(TestkitError::io(
            format!("sending {} to {addr}", args.join(" ")),
            io::Error::other(format!("answered {other:?}")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_split_without_gaps() {
        for count in 1..=5 {
            assert_eq!(slot_bound(0, count), 0);
            assert_eq!(slot_bound(count, count), 16384);
            for i in 0..count {
                assert!(slot_bound(i, count) < slot_bound(i + 1, count));
            }
        }
    }
}
