//! [`SqlBackend`]: a connection pool to one database, opening the nine stores per
//! namespace.

use std::fmt;
use std::sync::Arc;

use authstate_core::{Capabilities, Contract, Namespace, Result, StoreConfig, Stores};

use crate::artifact::{ArtifactSql, SqlArtifactStore};
use crate::config::SqlConfig;
use crate::connection::{Db, connect};
use crate::dialect::{Dialect, Tables};
use crate::keys::{KeySql, SqlKeyStore};
use crate::lease::{LeaseSql, SqlSweepLease};
use crate::lockout::{LockoutSql, SqlLockoutStore};
use crate::node::Node;
use crate::raw::{self, RawEntry};
use crate::registry::{RegistrySql, SqlSessionRegistry};
use crate::replay::{ReplaySql, SqlReplayCache};
use crate::revocation::{RevocationSql, SqlRevocationStore};
use crate::schema::{self, MigrationReport};
use crate::session::{SessionSql, SqlSessionStore};
use crate::state::{SqlStateStore, StateSql};
use crate::token::{SqlTokenStore, TokenSql};

/// A pool of connections to one PostgreSQL, MariaDB or SQLite database.
///
/// Clones share the pool. Every [`SqlBackend::open`] makes one "node" of stores over
/// it; nodes on separate backends (separate pools, processes or machines) see the same
/// records.
#[derive(Clone)]
pub struct SqlBackend {
    db: Db,
    in_memory: bool,
}

impl fmt::Debug for SqlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlBackend")
            .field("dialect", &self.db.dialect)
            .field("in_memory", &self.in_memory)
            .finish_non_exhaustive()
    }
}

impl SqlBackend {
    /// Connects as `config` says: opens one connection at once (so that a wrong
    /// password is `ConfigInvalid` and an unreachable server `Unavailable`, each naming
    /// the server), then a pool of up to `max_connections`.
    ///
    /// For MariaDB, refuses MySQL proper and versions before 10.6 (`ConfigInvalid`).
    pub async fn connect(config: &SqlConfig) -> Result<Self> {
        let connected = connect(config).await?;
        Ok(SqlBackend {
            db: connected.db,
            in_memory: connected.in_memory,
        })
    }

    /// The database's dialect.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect
    }

    /// What this backend can do: durable and shared between nodes (except an in-memory
    /// SQLite database, which lives and dies with this pool); no server-side expiry
    /// (purge removes dead rows; reads never return them anyway).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            durable: !self.in_memory,
            shared_across_nodes: !self.in_memory,
            ..Capabilities::default()
        }
    }

    /// Creates or upgrades the tables of `namespace` to this build's schema version.
    /// Safe to run from several nodes at once and to run again.
    pub async fn migrate(&self, namespace: &Namespace) -> Result<MigrationReport> {
        schema::migrate(&self.db, namespace).await
    }

    /// The schema version of `namespace`: `None` when it has no tables, 0 when its
    /// version table is empty.
    pub async fn schema_version(&self, namespace: &Namespace) -> Result<Option<u32>> {
        schema::version(&self.db, namespace).await
    }

    /// Drops `namespace`: its tables and every record in them (PostgreSQL: its schema
    /// `authstate_<namespace>` with everything in it; MariaDB and SQLite: the tables
    /// `authstate_<namespace>_*`). For retiring an IdP cluster that shared the database,
    /// and for cleaning up after `authstate conformance`. There is no undo, and no other
    /// namespace is touched.
    ///
    /// Runs under the namespace's migration lock, so it never interleaves with a
    /// `migrate` of the same namespace. Stores still open on the namespace fail their
    /// calls with `ConfigInvalid` ("a table of the authstate schema is missing … run
    /// migrate") until it is migrated again: drop only a namespace no node uses.
    ///
    /// Returns whether the namespace had an authstate schema; dropping one that has
    /// none does nothing and is not an error.
    ///
    /// ```no_run
    /// # async fn f(backend: authstate_backend_jdbc::SqlBackend) -> authstate_core::Result<()> {
    /// use authstate_core::Namespace;
    ///
    /// let retired = Namespace::new("old_cluster")?;
    /// if backend.drop_namespace(&retired).await? {
    ///     println!("namespace {retired} dropped");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn drop_namespace(&self, namespace: &Namespace) -> Result<bool> {
        schema::drop_namespace(&self.db, namespace).await
    }

    /// Opens the nine stores (and the sweep lease) in `config.namespace`.
    ///
    /// Checks once that the namespace's schema is this build's version: a missing or
    /// older schema is `ConfigInvalid` telling the operator to run migrate.
    pub async fn open(&self, config: StoreConfig) -> Result<Stores> {
        schema::check(&self.db, &config.namespace).await?;
        let tables = Tables::new(self.db.dialect, &config.namespace);
        let node = Arc::new(Node {
            db: self.db.clone(),
            config,
            tables,
        });
        let t = &node.tables;
        Ok(Stores {
            sessions: Arc::new(SqlSessionStore {
                sql: SessionSql::new(t),
                node: node.clone(),
            }),
            artifacts: Arc::new(SqlArtifactStore {
                sql: ArtifactSql::new(t),
                node: node.clone(),
            }),
            state: Arc::new(SqlStateStore {
                sql: StateSql::new(t),
                node: node.clone(),
            }),
            replay: Arc::new(SqlReplayCache {
                sql: ReplaySql::new(t),
                node: node.clone(),
            }),
            lockout: Arc::new(SqlLockoutStore {
                sql: LockoutSql::new(t),
                node: node.clone(),
            }),
            keys: Arc::new(SqlKeyStore {
                sql: KeySql::new(t),
                node: node.clone(),
            }),
            revocations: Arc::new(SqlRevocationStore {
                sql: RevocationSql::new(t),
                node: node.clone(),
            }),
            tokens: Arc::new(SqlTokenStore {
                sql: TokenSql::new(t),
                node: node.clone(),
            }),
            registry: Arc::new(SqlSessionRegistry {
                sql: RegistrySql::new(t),
                node: node.clone(),
            }),
            lease: Arc::new(SqlSweepLease {
                sql: LeaseSql::new(t),
                node: node.clone(),
            }),
            capabilities: self.capabilities(),
            backend: self.db.dialect.name(),
        })
    }

    /// Closes the pool: waits for connections in use to be returned, then closes them
    /// all. Stores opened on it fail with `Unavailable` afterwards.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Whether [`SqlBackend::close`] has been called.
    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    /// Every row stored for `namespace`, each column as stored: for the conformance
    /// suite's at-rest checks (no raw id, handle, token or subject may appear in it, and
    /// with a keyring no payload either) and for operators who want to see what is kept.
    pub async fn dump(&self, namespace: &Namespace) -> Result<Vec<RawEntry>> {
        raw::dump(&self.db, namespace).await
    }

    /// Flips one byte in the sealed record of every `contract` row of `namespace` and
    /// returns how many it altered: for the conformance suite's tamper checks (every
    /// later read of such a record must be `Corrupt`). Lockout counters, replay entries
    /// and revocations carry no sealed record, so for them it alters nothing.
    pub async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<usize> {
        raw::tamper(&self.db, namespace, contract).await
    }
}
