//! "Insert unless a live row holds the key": put-if-absent, replay recording, artifact
//! and token inserts and the sweep lease all come down to it. An expired row counts as
//! absent and is overwritten in the same statement.
//!
//! - PostgreSQL and SQLite: one statement,
//!   `INSERT … ON CONFLICT (k) DO UPDATE SET … WHERE <the old row is dead>`; one row
//!   affected means written, none means a live row kept the key. The conflict check and
//!   the update hold the row lock, so concurrent callers have exactly one winner.
//! - MariaDB: `INSERT … ON DUPLICATE KEY UPDATE` cannot say whether its condition held
//!   (sqlx connects with `CLIENT_FOUND_ROWS`, so "set to the same values" and "inserted"
//!   both report 1), so it is a plain `INSERT`, and on a duplicate key an
//!   `UPDATE … WHERE <dead>` whose matched-row count says whether it took the key. If a
//!   purge removed the dead row between the two, the insert is tried again.

use authstate_core::Result;

use crate::connection::{Arg, Db};
use crate::dialect::{Dialect, Stmt};
use crate::error::{is_unique_violation, map};

/// Whether a conditional insert wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Yes,
    No,
}

/// The statements of one conditional insert.
pub(crate) struct ConditionalInsert {
    dialect: Dialect,
    /// PostgreSQL, SQLite: the upsert. MariaDB: the plain insert.
    insert: Stmt,
    /// MariaDB: the takeover of a dead row.
    takeover: Option<Stmt>,
}

impl ConditionalInsert {
    /// Inserts `columns` (the first is the key `k`) as `$1..$n`; an existing row is
    /// overwritten when it expired, i.e. `expires_at <= $now_param`.
    pub fn new(dialect: Dialect, table: &str, columns: &[&str], now_param: usize) -> Self {
        Self::when(
            dialect,
            table,
            columns,
            &format!("{{t}}expires_at <= ${now_param}"),
        )
    }

    /// As [`ConditionalInsert::new`], with the takeover condition given: `{t}` in it
    /// stands for the existing row's qualifier.
    pub fn when(dialect: Dialect, table: &str, columns: &[&str], condition: &str) -> Self {
        let names = columns.join(", ");
        let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let values = values.join(", ");
        let rest = columns.get(1..).unwrap_or(&[]);
        match dialect {
            Dialect::MySql => {
                let sets: Vec<String> = rest
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ${}", i + 2))
                    .collect();
                ConditionalInsert {
                    dialect,
                    insert: Stmt::new(
                        dialect,
                        format!("INSERT INTO {table} ({names}) VALUES ({values})"),
                    ),
                    takeover: Some(Stmt::new(
                        dialect,
                        format!(
                            "UPDATE {table} SET {} WHERE k = $1 AND ({})",
                            sets.join(", "),
                            condition.replace("{t}", "")
                        ),
                    )),
                }
            }
            Dialect::Postgres | Dialect::Sqlite => {
                let sets: Vec<String> =
                    rest.iter().map(|c| format!("{c} = excluded.{c}")).collect();
                ConditionalInsert {
                    dialect,
                    insert: Stmt::new(
                        dialect,
                        format!(
                            "INSERT INTO {table} AS t ({names}) VALUES ({values}) \
                             ON CONFLICT (k) DO UPDATE SET {} WHERE {}",
                            sets.join(", "),
                            condition.replace("{t}", "t.")
                        ),
                    ),
                    takeover: None,
                }
            }
        }
    }

    /// Runs it with `args` (the columns, then whatever the condition refers to).
    pub async fn run(&self, db: &Db, args: &[Arg<'_>]) -> Result<Written> {
        let Some(takeover) = &self.takeover else {
            let n = db.execute(&self.insert, args).await?;
            return Ok(if n == 1 { Written::Yes } else { Written::No });
        };
        match db.try_execute(&self.insert, args).await {
            Ok(_) => return Ok(Written::Yes),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(map(self.dialect, e)),
        }
        if db.execute(takeover, args).await? == 1 {
            return Ok(Written::Yes);
        }
        // Not taken over: a live row holds the key (the usual answer), or the dead row
        // was purged in between. A second insert tells them apart.
        match db.try_execute(&self.insert, args).await {
            Ok(_) => Ok(Written::Yes),
            Err(e) if is_unique_violation(&e) => Ok(Written::No),
            Err(e) => Err(map(self.dialect, e)),
        }
    }
}
