//! What a backend can do, as plain flags.

/// Flags a backend reports; the conformance suite reads them and checks the behaviour
/// each one promises (and [`crate::ErrorKind::Unsupported`] where one is off).
///
/// Backends declare theirs with `..Default::default()`:
///
/// ```
/// use authstate_core::Capabilities;
/// let caps = Capabilities { server_side_ttl: true, durable: true, ..Default::default() };
/// assert!(!caps.cluster_safe);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The server removes expired records by itself (Redis PEXPIREAT, directory TTL);
    /// without it, only purge removes them. Reads are correct either way.
    pub server_side_ttl: bool,
    /// Records survive a restart of the server (the harness can reopen the stores).
    pub durable: bool,
    /// Stores opened separately (other processes, other nodes) see the same records.
    pub shared_across_nodes: bool,
    /// Works on a sharded deployment (Redis Cluster) without cross-slot failures.
    pub cluster_safe: bool,
}
