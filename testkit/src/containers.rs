//! Servers in containers through `testcontainers` (feature `containers`), used only when a
//! Docker engine answers.
//!
//! Each container lives on its own thread with its own Tokio runtime: `testcontainers`
//! needs a runtime both to start and to remove a container, and tests may call the kit from
//! plain `#[test]`s, current-thread or multi-thread runtimes alike.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use testcontainers_modules::redis::{REDIS_PORT, Redis};
use testcontainers_modules::testcontainers::ImageExt;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use tokio::sync::oneshot;

use crate::error::{Result, TestkitError};
use crate::provider::{TestServer, env_lookup};

/// The Redis image tag; the module's default (5.0) is far older than Debian's 7.0.
pub const REDIS_IMAGE_TAG: &str = "7.2";

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether a Docker engine answers: `DOCKER_HOST` if set, else the usual socket paths.
pub fn docker_available() -> bool {
    docker_available_with(env_lookup)
}

/// [`docker_available`] with the environment read through `lookup`.
pub fn docker_available_with(lookup: impl Fn(&str) -> Option<String>) -> bool {
    if let Some(host) = lookup("DOCKER_HOST").filter(|h| !h.trim().is_empty()) {
        let host = host.trim();
        if let Some(path) = host.strip_prefix("unix://") {
            return unix_ping(Path::new(path));
        }
        if let Some(addr) = host.strip_prefix("tcp://") {
            // The engine may want TLS here, so a TCP connect is as far as a cheap check goes.
            return tcp_connects(addr);
        }
        return false;
    }
    let mut candidates = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(home) = lookup("HOME") {
        candidates.push(Path::new(&home).join(".docker/run/docker.sock"));
        candidates.push(Path::new(&home).join(".docker/desktop/docker.sock"));
    }
    candidates.iter().any(|p| unix_ping(p))
}

fn unix_ping(path: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PROBE_TIMEOUT));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    let n = stream.read(&mut head).unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]);
    head.starts_with("HTTP/1.") && head.contains(" 200")
}

fn tcp_connects(addr: &str) -> bool {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, PROBE_TIMEOUT).is_ok())
}

/// Keeps a container running until dropped, then removes it.
#[derive(Debug)]
pub struct ContainerGuard {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `redis:TAG` and returns its URL; the container is removed when the result drops.
pub fn start_redis(tag: &str) -> Result<TestServer> {
    let image = Redis::default().with_tag(tag);
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<String, String>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("authstate-testkit-redis-container".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("building a Tokio runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let container = match image.start().await {
                    Ok(container) => container,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("starting redis container: {e}")));
                        return;
                    }
                };
                let url = async {
                    let host = container.get_host().await?;
                    let port = container.get_host_port_ipv4(REDIS_PORT).await?;
                    Ok::<_, testcontainers_modules::testcontainers::TestcontainersError>(format!(
                        "redis://{host}:{port}"
                    ))
                }
                .await
                .map_err(|e| format!("reading the redis container's address: {e}"));
                let started = url.is_ok();
                let _ = ready_tx.send(url);
                if started {
                    // A dropped guard (or a panicking test) closes the channel, which also ends the wait.
                    let _ = stop_rx.await;
                }
                if let Err(e) = container.rm().await {
                    eprintln!("authstate-testkit: could not remove the redis container: {e}");
                }
            });
        })
        .map_err(|e| TestkitError::io("spawning the container thread", e))?;
    let guard = ContainerGuard {
        stop: Some(stop_tx),
        thread: Some(thread),
    };
    match ready_rx.recv() {
        Ok(Ok(url)) => Ok(TestServer::container(url, guard)),
        Ok(Err(message)) => Err(TestkitError::Container(message)),
        Err(_) => Err(TestkitError::Container(
            "the container thread ended without an answer".to_owned(),
        )),
    }
}

/// A Redis container if Docker answers; `None` sends the caller on to a native server.
pub(crate) fn try_redis(lookup: &impl Fn(&str) -> Option<String>) -> Option<TestServer> {
    if !docker_available_with(lookup) {
        return None;
    }
    match start_redis(REDIS_IMAGE_TAG) {
        Ok(server) => Some(server),
        Err(e) => {
            // Docker answered, so this is worth seeing; a native server may still do.
            eprintln!("authstate-testkit: {e}; falling back to a native redis-server");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::docker_available_with;

    #[test]
    fn unreachable_docker_host_is_not_available() {
        let lookup = |name: &str| {
            (name == "DOCKER_HOST").then(|| "unix:///nonexistent/docker.sock".to_owned())
        };
        assert!(!docker_available_with(lookup));
    }
}
