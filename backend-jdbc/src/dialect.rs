//! The three SQL dialects, how their identifiers are quoted and named per namespace, and
//! statements prepared once per namespace with their placeholders in the dialect's form.
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(dead_code)
)]

use std::fmt;
use std::sync::Arc;

use authstate_core::Namespace;

/// A relational database the backend speaks to.
///
/// SQL is written per dialect wherever the three differ (upserts, `RETURNING`, row
/// locks, identifier quoting, placeholders); nothing goes through sqlx's `Any` driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL (13 or later). Each namespace is a schema, `authstate_<namespace>`.
    Postgres,
    /// MariaDB (10.6 or later). Tables are prefixed `authstate_<namespace>_`.
    ///
    /// MySQL itself is refused at connect time: it has no `INSERT … RETURNING` or
    /// `DELETE … RETURNING`, which this dialect relies on.
    #[serde(alias = "mariadb")]
    MySql,
    /// SQLite (a file, or in memory). Tables are prefixed `authstate_<namespace>_`.
    Sqlite,
}

impl Dialect {
    /// The dialect's name, as it appears in errors (`"postgres"`, `"mysql"`, `"sqlite"`).
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The dialect of a connection URL, from its scheme.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    /// Quotes an identifier. Namespaces are `[a-z][a-z0-9_-]*`, so the quote characters
    /// never occur in the names this crate builds; they are doubled anyway.
    pub(crate) fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every table of a namespace, in the order dumps list them.
pub(crate) const TABLES: [&str; 13] = [
    "schema_version",
    "sessions",
    "artifacts",
    "state",
    "replay",
    "lockout",
    "key_sets",
    "revocations",
    "revocation_feed",
    "revocation_seq",
    "tokens",
    "registry",
    "leases",
];

/// The quoted, qualified names of one namespace's tables.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub dialect: Dialect,
    /// PostgreSQL: the quoted schema; others: empty.
    pub schema: String,
    /// The prefix index names get (SQLite keeps index names per database).
    pub index_prefix: String,
    pub schema_version: String,
    pub sessions: String,
    pub artifacts: String,
    pub state: String,
    pub replay: String,
    pub lockout: String,
    pub key_sets: String,
    pub revocations: String,
    pub revocation_feed: String,
    pub revocation_seq: String,
    pub tokens: String,
    pub registry: String,
    pub leases: String,
}

impl Tables {
    /// The names for `namespace` in `dialect`: PostgreSQL puts them in the schema
    /// `authstate_<namespace>`; MariaDB and SQLite prefix them `authstate_<namespace>_`.
    /// The longest name is 58 characters, inside MariaDB's 64 and PostgreSQL's 63.
    pub fn new(dialect: Dialect, namespace: &Namespace) -> Self {
        let base = format!("authstate_{}", namespace.as_str());
        let (schema, index_prefix) = match dialect {
            Dialect::Postgres => (dialect.quote(&base), String::new()),
            Dialect::MySql => (String::new(), String::new()),
            Dialect::Sqlite => (String::new(), format!("{base}_")),
        };
        let name = |table: &str| match dialect {
            Dialect::Postgres => format!("{schema}.{}", dialect.quote(table)),
            Dialect::MySql | Dialect::Sqlite => dialect.quote(&format!("{base}_{table}")),
        };
        Tables {
            dialect,
            schema_version: name("schema_version"),
            sessions: name("sessions"),
            artifacts: name("artifacts"),
            state: name("state"),
            replay: name("replay"),
            lockout: name("lockout"),
            key_sets: name("key_sets"),
            revocations: name("revocations"),
            revocation_feed: name("revocation_feed"),
            revocation_seq: name("revocation_seq"),
            tokens: name("tokens"),
            registry: name("registry"),
            leases: name("leases"),
            schema,
            index_prefix,
        }
    }

    /// The qualified name of `table` (one of [`TABLES`]).
    pub fn get(&self, table: &str) -> Option<&str> {
        Some(match table {
            "schema_version" => &self.schema_version,
            "sessions" => &self.sessions,
            "artifacts" => &self.artifacts,
            "state" => &self.state,
            "replay" => &self.replay,
            "lockout" => &self.lockout,
            "key_sets" => &self.key_sets,
            "revocations" => &self.revocations,
            "revocation_feed" => &self.revocation_feed,
            "revocation_seq" => &self.revocation_seq,
            "tokens" => &self.tokens,
            "registry" => &self.registry,
            "leases" => &self.leases,
            _ => return None,
        })
    }

    /// Replaces the `{{table}}`, `{{schema}}` and `{{idx}}` markers of a migration.
    pub fn render(&self, template: &str) -> String {
        let mut out = template
            .replace("{{schema}}", &self.schema)
            .replace("{{idx}}", &self.index_prefix);
        for table in TABLES {
            if let Some(name) = self.get(table) {
                out = out.replace(&format!("{{{{{table}}}}}"), name);
            }
        }
        out
    }
}

/// A statement ready to run: its text in the dialect's placeholder form and, for
/// MariaDB, which argument each `?` takes.
///
/// Statements are written once with PostgreSQL's numbered `$n` placeholders (which
/// SQLite also understands). MariaDB only has positional `?`, so there each `$n` becomes
/// `?` and the arguments are bound in the order the placeholders appear, repeating an
/// argument that is used twice.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    sql: Arc<str>,
    order: Option<Arc<[usize]>>,
}

impl Stmt {
    /// Prepares `text` (with `$n` placeholders) for `dialect`.
    pub fn new(dialect: Dialect, text: impl AsRef<str>) -> Self {
        let text = text.as_ref();
        match dialect {
            Dialect::Postgres | Dialect::Sqlite => Stmt {
                sql: Arc::from(text),
                order: None,
            },
            Dialect::MySql => {
                let (sql, order) = positional(text);
                Stmt {
                    sql: Arc::from(sql),
                    order: Some(Arc::from(order)),
                }
            }
        }
    }

    /// The SQL text.
    pub fn sql(&self) -> &Arc<str> {
        &self.sql
    }

    /// For positional dialects, the argument index of each placeholder in order.
    pub fn order(&self) -> Option<&[usize]> {
        self.order.as_deref()
    }
}

/// `$n` placeholders to `?`, with the 0-based argument index of each.
fn positional(text: &str) -> (String, Vec<usize>) {
    let mut sql = String::with_capacity(text.len());
    let mut order = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' {
            let mut n = 0usize;
            let mut digits = 0;
            while let Some(&(_, d)) = chars.peek() {
                let Some(v) = d.to_digit(10) else { break };
                n = n * 10 + v as usize;
                digits += 1;
                chars.next();
            }
            if digits > 0 && n > 0 {
                sql.push('?');
                order.push(n - 1);
                continue;
            }
            sql.push('$');
            continue;
        }
        sql.push(c);
    }
    (sql, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_positional_for_mariadb() {
        let s = Stmt::new(
            Dialect::MySql,
            "UPDATE t SET a = $2, b = $2 + $10 WHERE k = $1",
        );
        assert_eq!(&**s.sql(), "UPDATE t SET a = ?, b = ? + ? WHERE k = ?");
        assert_eq!(s.order(), Some(&[1, 1, 9, 0][..]));
        let p = Stmt::new(Dialect::Postgres, "SELECT $1");
        assert_eq!(&**p.sql(), "SELECT $1");
        assert!(p.order().is_none());
    }

    #[test]
    fn tables_are_named_per_namespace() {
        let ns = Namespace::new("idp-prod").expect("namespace");
        let pg = Tables::new(Dialect::Postgres, &ns);
        assert_eq!(pg.sessions, "\"authstate_idp-prod\".\"sessions\"");
        let my = Tables::new(Dialect::MySql, &ns);
        assert_eq!(my.sessions, "`authstate_idp-prod_sessions`");
        let lite = Tables::new(Dialect::Sqlite, &ns);
        assert_eq!(
            lite.revocation_feed,
            "\"authstate_idp-prod_revocation_feed\""
        );
        assert_eq!(
            lite.render("CREATE INDEX \"{{idx}}x\" ON {{sessions}}"),
            "CREATE INDEX \"authstate_idp-prod_x\" ON \"authstate_idp-prod_sessions\""
        );
        let longest = Namespace::new("a".repeat(32)).expect("namespace");
        let name = Tables::new(Dialect::MySql, &longest).revocation_feed;
        assert!(name.len() - 2 <= 64, "{name}");
    }

    #[test]
    fn dialects_come_from_url_schemes() {
        assert_eq!(
            Dialect::from_url("postgresql://h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::from_url("mariadb://h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("sqlite::memory:"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("redis://h"), None);
    }
}
