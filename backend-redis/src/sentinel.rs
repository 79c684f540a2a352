//! Finding the master through Sentinel.
//!
//! redis 1.8.1's `SentinelClient` asks once and keeps its connections where they are after
//! a failover (redis-rs issue #1438), and it cannot take our TLS settings. The protocol is
//! small, so the handle does it itself, following the client guidelines of the Sentinel
//! documentation:
//!
//! 1. ask the sentinels in turn, starting with the one that answered last, for
//!    `SENTINEL GET-MASTER-ADDR-BY-NAME <master_name>`;
//! 2. connect to that address and check with `ROLE` that it really is a master (a sentinel
//!    may still name the old master during a failover);
//! 3. on a broken connection, a timeout or a `READONLY`/`MASTERDOWN` reply, drop the
//!    connection and start again at 1 (see `connection.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisConnectionInfo, RedisError, RedisResult, Value};
use tokio::time::Instant;

use crate::config::{Endpoint, SentinelTopology};
use crate::connection::{Session, open_session, unavailable};

/// The least time one sentinel gets to answer, however little of the deadline is left
/// per sentinel.
const MIN_TIME_PER_SENTINEL: Duration = Duration::from_millis(200);

/// The sentinels of one master.
pub(crate) struct Sentinels {
    topology: SentinelTopology,
    info: RedisConnectionInfo,
    /// The sentinel that answered last: asked first next time.
    preferred: AtomicUsize,
}

impl Sentinels {
    pub(crate) fn new(topology: SentinelTopology) -> Self {
        let mut info = RedisConnectionInfo::default();
        if let Some(user) = &topology.auth.username {
            info = info.set_username(user);
        }
        if let Some(password) = &topology.auth.password {
            info = info.set_password(password.expose());
        }
        Sentinels {
            topology,
            info,
            preferred: AtomicUsize::new(0),
        }
    }

    pub(crate) fn master_name(&self) -> &str {
        &self.topology.master_name
    }

    /// Asks the sentinels, one after the other, where the master is.
    ///
    /// Errors: `MasterNameNotFoundBySentinel` when the sentinels that answered do not
    /// know the master name (a setting to fix); an I/O error, which the crate maps to
    /// `Unavailable`, when no sentinel answered before `deadline`; a permanent error
    /// (authentication, certificates) from a sentinel as it is.
    pub(crate) async fn master_address(
        &self,
        deadline: Instant,
        response_timeout: Duration,
    ) -> RedisResult<(String, u16)> {
        let count = self.topology.nodes.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        let mut failures = Vec::new();
        let mut unknown_to = Vec::new();
        for step in 0..count {
            let index = (first + step) % count;
            let (host, port) = &self.topology.nodes[index];
            let endpoint = Endpoint::Tcp {
                host: host.clone(),
                port: *port,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                failures.push(format!("{endpoint}: not asked, out of time"));
                continue;
            }
            // Leave time for the sentinels after this one, in case this one hangs.
            let share = (left / (count - step) as u32).max(MIN_TIME_PER_SENTINEL);
            let ask_deadline = deadline.min(Instant::now() + share);
            match self.ask(&endpoint, ask_deadline, response_timeout).await {
                Ok(Some(address)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(address);
                }
                Ok(None) => unknown_to.push(endpoint.to_string()),
                Err(e) if crate::connection::is_permanent(&e) => return Err(e),
                Err(e) => {
                    let text = e.to_string();
                    // Connection errors name the address already; refusals do not.
                    failures.push(if text.starts_with(&endpoint.to_string()) {
                        text
                    } else {
                        format!("{endpoint}: {text}")
                    });
                }
            }
        }
        if !unknown_to.is_empty() {
            return Err(RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "the sentinels do not know this master name",
                format!(
                    "no sentinel monitors a master named {:?} (asked {}{}); check sentinel.master_name",
                    self.topology.master_name,
                    unknown_to.join(", "),
                    if failures.is_empty() {
                        String::new()
                    } else {
                        format!("; no answer from {}", failures.join("; "))
                    }
                ),
            )));
        }
        Err(unavailable(format!(
            "no sentinel answered for master {:?}: {}",
            self.topology.master_name,
            failures.join("; ")
        )))
    }

    /// One sentinel's answer: `Some(address)`, or `None` when it does not know the name.
    async fn ask(
        &self,
        endpoint: &Endpoint,
        deadline: Instant,
        response_timeout: Duration,
    ) -> RedisResult<Option<(String, u16)>> {
        // The whole session stays alive while it is used: dropping it stops its driver.
        let mut session: Session = open_session(
            endpoint,
            self.topology.tls.as_ref(),
            &self.info,
            deadline,
            response_timeout,
        )
        .await?;
        let reply: Value = tokio::time::timeout_at(
            deadline,
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&self.topology.master_name)
                .query_async(&mut session.conn),
        )
        .await
        .map_err(|_| unavailable(format!("{endpoint} did not answer in time")))??;
        parse_master_address(endpoint, reply)
    }
}

fn parse_master_address(endpoint: &Endpoint, reply: Value) -> RedisResult<Option<(String, u16)>> {
    let bad = |what: &str| {
        RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "unexpected answer from a sentinel",
            format!("{endpoint}: {what}"),
        ))
    };
    match reply {
        Value::Nil => Ok(None),
        Value::Array(items) if items.len() == 2 => {
            let text = |v: &Value| match v {
                Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
                Value::SimpleString(s) => Some(s.clone()),
                _ => None,
            };
            let host = text(&items[0]).ok_or_else(|| bad("the master's host is not text"))?;
            let port = text(&items[1])
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| bad("the master's port is not a port number"))?;
            Ok(Some((host, port)))
        }
        other => Err(bad(&format!("{other:?}"))),
    }
}

/// Whether the server behind `conn` is a master. A user without permission for `ROLE`
/// cannot tell; the connection is accepted then, and `READONLY` replies still send the
/// handle back to the sentinels.
pub(crate) async fn is_master(conn: &mut MultiplexedConnection) -> RedisResult<bool> {
    match redis::cmd("ROLE").query_async::<Value>(conn).await {
        Ok(Value::Array(items)) => Ok(match items.first() {
            Some(Value::BulkString(role)) => role.as_slice() == b"master",
            Some(Value::SimpleString(role)) => role == "master",
            _ => false,
        }),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == ErrorKind::Server(redis::ServerErrorKind::NoPerm) => {
            tracing::debug!(
                backend = crate::BACKEND_NAME,
                "ROLE is not permitted for this user; the master's role is not checked"
            );
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::Tcp {
            host: "s".into(),
            port: 1,
        }
    }

    #[test]
    fn master_address_replies() {
        assert_eq!(
            parse_master_address(&endpoint(), Value::Nil).ok(),
            Some(None)
        );
        let reply = Value::Array(vec![
            Value::BulkString(b"10.0.0.5".to_vec()),
            Value::BulkString(b"6380".to_vec()),
        ]);
        assert_eq!(
            parse_master_address(&endpoint(), reply).ok(),
            Some(Some(("10.0.0.5".to_owned(), 6380)))
        );
        let reply = Value::Array(vec![
            Value::BulkString(b"10.0.0.5".to_vec()),
            Value::BulkString(b"port".to_vec()),
        ]);
        assert!(parse_master_address(&endpoint(), reply).is_err());
    }
}
