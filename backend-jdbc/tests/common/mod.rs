//! The conformance harness shared by the three database test binaries.
//!
//! Every `open` makes a new pool (a separate "node", as the suite's two-node races
//! need) and runs `migrate` for the case's namespace first: the suite opens a fresh
//! namespace per case, and migrating is the harness's job, not the library's on every
//! open. The PostgreSQL and MariaDB databases are created once per test run by the
//! testkit; every SQLite harness has its own temporary file.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use authstate_backend_jdbc::{SqlBackend, SqlConfig};
use authstate_conformance::{Harness, RawEntry};
use authstate_core::{Contract, Namespace, Result, StoreConfig, Stores};
use authstate_testkit::{SqliteFile, require};

/// Connections per node: small, as each test has its own pools.
pub const POOL_SIZE: u32 = 6;

/// The PostgreSQL test database's URL, created once per test binary run.
pub fn postgres_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        require(authstate_testkit::postgres_database())
            .url()
            .to_owned()
    })
    .clone()
}

/// The MariaDB test database's URL, created once per test binary run.
pub fn mysql_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        require(authstate_testkit::mysql_database())
            .url()
            .to_owned()
    })
    .clone()
}

/// The conformance harness over one database.
pub struct SqlHarness {
    config: SqlConfig,
    /// Every pool opened, so `reopen` can close them all.
    opened: Mutex<Vec<SqlBackend>>,
    /// The SQLite file, kept for the test's lifetime.
    _file: Option<Arc<SqliteFile>>,
}

impl SqlHarness {
    pub fn new(config: SqlConfig, file: Option<SqliteFile>) -> Self {
        SqlHarness {
            config: config.with_max_connections(POOL_SIZE),
            opened: Mutex::new(Vec::new()),
            _file: file.map(Arc::new),
        }
    }

    pub fn postgres() -> Self {
        Self::new(SqlConfig::from_url(postgres_url()), None)
    }

    pub fn mysql() -> Self {
        Self::new(SqlConfig::from_url(mysql_url()), None)
    }

    pub fn sqlite() -> Self {
        let file = require(authstate_testkit::sqlite_file());
        Self::new(SqlConfig::sqlite_file(file.path()), Some(file))
    }

    /// A pool that stays open for dump and tamper.
    async fn any_backend(&self) -> Result<SqlBackend> {
        let open = self
            .opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|b| !b.is_closed())
            .cloned();
        match open {
            Some(b) => Ok(b),
            None => {
                let b = SqlBackend::connect(&self.config).await?;
                self.remember(b.clone());
                Ok(b)
            }
        }
    }

    fn remember(&self, backend: SqlBackend) {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(backend);
    }
}

#[async_trait]
impl Harness for SqlHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let backend = SqlBackend::connect(&self.config).await?;
        backend.migrate(&config.namespace).await?;
        let stores = backend.open(config).await?;
        self.remember(backend);
        Ok(stores)
    }

    async fn reopen(&self, config: StoreConfig) -> Result<Option<Stores>> {
        let old: Vec<SqlBackend> = std::mem::take(
            &mut *self
                .opened
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for backend in old {
            backend.close().await;
        }
        // A new pool on the same data: no migrate, the schema must still be there.
        let backend = SqlBackend::connect(&self.config).await?;
        let stores = backend.open(config).await?;
        self.remember(backend);
        Ok(Some(stores))
    }

    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        let backend = self.any_backend().await?;
        let rows = backend.dump(namespace).await?;
        Ok(Some(
            rows.into_iter()
                .map(|r| RawEntry {
                    key: r.key,
                    value: r.value,
                })
                .collect(),
        ))
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        let backend = self.any_backend().await?;
        Ok(Some(backend.tamper(namespace, contract).await?))
    }
}
