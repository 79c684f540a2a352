//! Embedded migrations per dialect, applied by an explicit [`crate::SqlBackend::migrate`],
//! and the version check every [`crate::SqlBackend::open`] makes.
//!
//! Each namespace has its own `schema_version` table (one row per applied migration),
//! so two IdP clusters sharing a database migrate independently. Migrations run under a
//! lock per namespace (PostgreSQL: a transaction-level advisory lock, MariaDB:
//! `GET_LOCK`, SQLite: `BEGIN IMMEDIATE`), so nodes that start together apply each
//! migration once. PostgreSQL and SQLite apply a migration in one transaction; MariaDB
//! cannot (its DDL commits implicitly), so its migrations are idempotent statements.

use authstate_core::{Clock, Error, Namespace, Result, SystemClock};

use crate::connection::{Arg, Db, Txn};
use crate::dialect::{Dialect, Stmt, TABLES, Tables};
use crate::error::{Class, classify};

/// The schema version this build reads and writes. Stores refuse to open on a
/// namespace whose schema is at another version.
pub const SCHEMA_VERSION: u32 = 2;

/// One migration, in the three dialects.
struct Migration {
    version: u32,
    postgres: &'static str,
    mysql: &'static str,
    sqlite: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        postgres: include_str!("../migrations/postgres/0001_initial.sql"),
        mysql: include_str!("../migrations/mysql/0001_initial.sql"),
        sqlite: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        postgres: include_str!("../migrations/postgres/0002_session_parts.sql"),
        mysql: include_str!("../migrations/mysql/0002_session_parts.sql"),
        sqlite: include_str!("../migrations/sqlite/0002_session_parts.sql"),
    },
];

impl Migration {
    fn text(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Postgres => self.postgres,
            Dialect::MySql => self.mysql,
            Dialect::Sqlite => self.sqlite,
        }
    }
}

/// What [`crate::SqlBackend::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The namespace's schema version before (0: it had none).
    pub from: u32,
    /// Its version now ([`SCHEMA_VERSION`]).
    pub to: u32,
    /// The migrations applied, in order (empty when it was up to date).
    pub applied: Vec<u32>,
}

/// The statements of a migration file: `;`-terminated, comments dropped.
fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// A stable 64-bit key for the namespace's PostgreSQL advisory lock (FNV-1a).
fn lock_key(namespace: &Namespace) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"authstate-migrate:"
        .iter()
        .chain(namespace.as_str().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

fn version_table(t: &Tables) -> String {
    let engine = if t.dialect == Dialect::MySql {
        " ENGINE=InnoDB"
    } else {
        ""
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT \
         NOT NULL){engine}",
        t.schema_version
    )
}

fn read_version_stmt(t: &Tables) -> Stmt {
    Stmt::new(
        t.dialect,
        format!("SELECT COALESCE(MAX(version), 0) FROM {}", t.schema_version),
    )
}

/// Applies every migration the namespace lacks.
pub(crate) async fn migrate(db: &Db, namespace: &Namespace) -> Result<MigrationReport> {
    let t = Tables::new(db.dialect, namespace);
    match db.dialect {
        Dialect::Postgres => {
            let mut tx = db.begin().await?;
            pg_lock(&mut tx, namespace).await?;
            tx.run_raw(format!("CREATE SCHEMA IF NOT EXISTS {}", t.schema))
                .await?;
            let report = apply(&mut tx, &t).await?;
            tx.commit().await?;
            Ok(report)
        }
        Dialect::Sqlite => {
            let mut tx = db.begin().await?;
            let report = apply(&mut tx, &t).await?;
            tx.commit().await?;
            Ok(report)
        }
        Dialect::MySql => {
            let mut conn = db.hold().await?;
            let name = mysql_lock(&mut conn, namespace).await?;
            let report = apply(&mut conn, &t).await;
            // Released on success and failure alike: the connection goes back to the
            // pool, and a session lock would stay with it.
            let released = mysql_unlock(&mut conn, &name).await;
            let report = report?;
            released?;
            Ok(report)
        }
    }
}

/// Takes PostgreSQL's migration lock of `namespace` in the transaction `tx` (an
/// advisory lock, released at its end).
async fn pg_lock(tx: &mut Txn, namespace: &Namespace) -> Result<()> {
    tx.execute(
        &Stmt::new(Dialect::Postgres, "SELECT pg_advisory_xact_lock($1)"),
        &[Arg::Int(lock_key(namespace))],
    )
    .await
    .map(|_| ())
}

/// Takes MariaDB's migration lock of `namespace` on `conn` (`GET_LOCK`, waiting up to
/// 60 s); returns the lock's name for [`mysql_unlock`].
async fn mysql_lock(conn: &mut Txn, namespace: &Namespace) -> Result<String> {
    let name = format!("authstate-migrate:{}", namespace.as_str());
    let got = conn
        .fetch_optional(
            &Stmt::new(Dialect::MySql, "SELECT CAST(GET_LOCK($1, 60) AS SIGNED)"),
            &[Arg::Bytes(name.as_bytes())],
        )
        .await?
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten();
    if got != Some(1) {
        return Err(Error::unavailable(
            Dialect::MySql.name(),
            format!(
                "another migrate or drop of namespace {namespace} held its lock for 60 s; \
                 try again"
            ),
        ));
    }
    Ok(name)
}

/// Releases the lock [`mysql_lock`] took.
async fn mysql_unlock(conn: &mut Txn, name: &str) -> Result<()> {
    conn.execute(
        &Stmt::new(Dialect::MySql, "SELECT RELEASE_LOCK($1)"),
        &[Arg::Bytes(name.as_bytes())],
    )
    .await
    .map(|_| ())
}

/// Drops the namespace's tables with all they hold (PostgreSQL: its schema), under the
/// namespace's migration lock so that no migrate of it runs halfway through. Returns
/// whether the namespace had an authstate schema.
pub(crate) async fn drop_namespace(db: &Db, namespace: &Namespace) -> Result<bool> {
    let t = Tables::new(db.dialect, namespace);
    let existed = version(db, namespace).await?.is_some();
    match db.dialect {
        Dialect::Postgres => {
            let mut tx = db.begin().await?;
            pg_lock(&mut tx, namespace).await?;
            tx.run_raw(format!("DROP SCHEMA IF EXISTS {} CASCADE", t.schema))
                .await?;
            tx.commit().await?;
        }
        Dialect::Sqlite => {
            // SQLite's DDL is transactional: all tables go, or none.
            let mut tx = db.begin().await?;
            for table in TABLES {
                if let Some(name) = t.get(table) {
                    tx.run_raw(format!("DROP TABLE IF EXISTS {name}")).await?;
                }
            }
            tx.commit().await?;
        }
        Dialect::MySql => {
            // One statement for every table; MariaDB's DDL commits on its own.
            let names: Vec<&str> = TABLES.iter().filter_map(|table| t.get(table)).collect();
            let mut conn = db.hold().await?;
            let name = mysql_lock(&mut conn, namespace).await?;
            let dropped = conn
                .run_raw(format!("DROP TABLE IF EXISTS {}", names.join(", ")))
                .await;
            let released = mysql_unlock(&mut conn, &name).await;
            dropped?;
            released?;
        }
    }
    Ok(existed)
}

/// Creates the version table if needed and applies the missing migrations on `conn`.
async fn apply(conn: &mut Txn, t: &Tables) -> Result<MigrationReport> {
    conn.run_raw(version_table(t)).await?;
    let from = read_version(conn, t).await?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        for stmt in statements(&t.render(m.text(t.dialect))) {
            let adds_column = t.dialect == Dialect::Sqlite && stmt.contains(" ADD COLUMN ");
            match conn.run_raw(stmt).await {
                // SQLite has no `ADD COLUMN IF NOT EXISTS`: a column that is there
                // already (a migration whose version row was lost) is as good as added.
                // A failed statement leaves SQLite's transaction open and unchanged.
                Err(e) if adds_column && e.message().contains("duplicate column name") => {}
                other => other?,
            }
        }
        conn.execute(
            &Stmt::new(
                t.dialect,
                format!(
                    "INSERT INTO {} (version, applied_at) VALUES ($1, $2)",
                    t.schema_version
                ),
            ),
            &[
                Arg::Int(i64::from(m.version)),
                Arg::Int(SystemClock.now().as_millis()),
            ],
        )
        .await?;
        applied.push(m.version);
    }
    Ok(MigrationReport {
        from,
        to: from.max(SCHEMA_VERSION),
        applied,
    })
}

async fn read_version(conn: &mut Txn, t: &Tables) -> Result<u32> {
    let v = conn
        .fetch_optional(&read_version_stmt(t), &[])
        .await?
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0);
    u32::try_from(v).map_err(|_| {
        Error::corrupt(
            t.dialect.name(),
            format!("the schema_version table holds an impossible version {v}"),
        )
    })
}

/// The namespace's schema version (0 when its version table is empty), or `None` when
/// it has no authstate schema.
pub(crate) async fn version(db: &Db, namespace: &Namespace) -> Result<Option<u32>> {
    let t = Tables::new(db.dialect, namespace);
    let row = match db.fetch_optional(&read_version_stmt(&t), &[]).await {
        Ok(row) => row,
        Err(e) if is_missing_schema(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    // A version table without rows (a migration interrupted before it recorded itself)
    // is version 0: older than any build.
    let v = row.map(|r| r.int(0)).transpose()?.unwrap_or(0);
    u32::try_from(v).map(Some).map_err(|_| {
        Error::corrupt(
            db.dialect.name(),
            format!("the schema_version table holds an impossible version {v}"),
        )
    })
}

fn is_missing_schema(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<sqlx::Error>())
        .is_some_and(|s| classify(s) == Class::MissingSchema)
}

/// Refuses to open stores on a namespace whose schema is missing or at another version.
pub(crate) async fn check(db: &Db, namespace: &Namespace) -> Result<()> {
    let name = db.dialect.name();
    match version(db, namespace).await? {
        None => Err(Error::config(
            name,
            format!(
                "namespace {namespace} has no authstate schema in this database: run migrate \
                 (`authstate migrate`, or SqlBackend::migrate) before opening stores"
            ),
        )),
        Some(v) if v < SCHEMA_VERSION => Err(Error::config(
            name,
            format!(
                "namespace {namespace} has authstate schema version {v}, older than this \
                 build's {SCHEMA_VERSION}: run migrate (`authstate migrate`, or \
                 SqlBackend::migrate)"
            ),
        )),
        Some(v) if v > SCHEMA_VERSION => Err(Error::config(
            name,
            format!(
                "namespace {namespace} has authstate schema version {v}, newer than this \
                 build's {SCHEMA_VERSION}: upgrade authstate on this node"
            ),
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_split_into_statements() {
        for m in MIGRATIONS {
            for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
                let ns = Namespace::new("x").expect("ns");
                let text = Tables::new(dialect, &ns).render(m.text(dialect));
                let stmts = statements(&text);
                assert!(
                    stmts.iter().all(|s| !s.contains("{{")),
                    "{dialect}: unreplaced marker"
                );
                assert!(!stmts.is_empty(), "{dialect}: version {}", m.version);
                // Only a trigger body holds a `;` of its own.
                assert!(
                    stmts
                        .iter()
                        .all(|s| !s.contains(';') || s.starts_with("CREATE TRIGGER")),
                    "{dialect}"
                );
            }
        }
        assert_eq!(
            MIGRATIONS.last().map(|m| m.version),
            Some(SCHEMA_VERSION),
            "SCHEMA_VERSION must be the last migration"
        );
    }
}
