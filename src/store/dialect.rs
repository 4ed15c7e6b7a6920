//! What differs between SQLite and PostgreSQL in the SQL the store writes: parameter
//! placeholders, bulk upserts, and how a migration shuts out other migrators.

use std::fmt::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A table's upsert: the columns in the order rows are bound, the conflict key (a
/// primary key or unique index), and the columns replaced on conflict (`None`: every
/// column but the key).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upsert {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub key: &'static [&'static str],
    pub update: Option<&'static [&'static str]>,
}

/// One parameter's placeholder, written with `{}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placeholder {
    dialect: Dialect,
    n: usize,
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dialect {
            Dialect::Sqlite => f.write_char('?'),
            Dialect::Postgres => write!(f, "${}", self.n),
        }
    }
}

impl Dialect {
    /// The placeholder for the `n`th parameter (from 1). Parameters must appear in the
    /// statement in the order they are bound: SQLite's `?` are numbered by position.
    /// (`$n` works on both; SQLite's binder looks each name up in a list, which is
    /// quadratic in a statement of hundreds of parameters, so SQLite gets `?`.)
    pub(crate) fn placeholder(self, n: usize) -> Placeholder {
        Placeholder { dialect: self, n }
    }

    /// `INSERT INTO table (cols) VALUES (..), (..) ON CONFLICT (key) DO UPDATE SET
    /// col = excluded.col, ...` for `rows` rows. A row may appear once per statement
    /// (PostgreSQL refuses to update one row twice): see `Store::upsert_rows`.
    pub(crate) fn upsert_sql(self, u: &Upsert, rows: usize) -> String {
        let cols = u.columns.len();
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", u.table, u.columns.join(", "));
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for col in 0..cols {
                if col > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "{}", self.placeholder(row * cols + col + 1));
            }
            sql.push(')');
        }
        let _ = write!(sql, " ON CONFLICT ({}) DO ", u.key.join(", "));
        let mut set = u
            .update
            .unwrap_or(u.columns)
            .iter()
            .filter(|c| !u.key.contains(c))
            .peekable();
        if set.peek().is_none() {
            sql.push_str("NOTHING");
            return sql;
        }
        sql.push_str("UPDATE SET ");
        for (i, c) in set.enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{c} = excluded.{c}");
        }
        sql
    }

    /// Opens a migration's transaction so that one migrator at a time runs: SQLite
    /// takes the write lock at BEGIN (a deferred transaction could read the schema
    /// table, then fail to upgrade to writing), PostgreSQL takes an advisory lock held
    /// to commit.
    pub(crate) async fn begin_exclusive(
        self,
        pool: &sqlx::AnyPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self {
            Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }
}

/// The advisory lock key radcare's migrations hold on PostgreSQL ("radcare" in ASCII),
/// so nothing else sharing the database is likely to pick the same one.
const MIGRATION_LOCK: i64 = 0x72_61_64_63_61_72_65;

#[cfg(test)]
mod tests {
    use super::*;

    const T: Upsert = Upsert {
        table: "t",
        columns: &["id", "a", "b"],
        key: &["id"],
        update: None,
    };

    #[test]
    fn placeholders_are_numbered_for_postgres_and_positional_for_sqlite() {
        assert_eq!(
            Dialect::Postgres.upsert_sql(&T, 2),
            "INSERT INTO t (id, a, b) VALUES ($1, $2, $3), ($4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
        assert_eq!(
            Dialect::Sqlite.upsert_sql(&T, 1),
            "INSERT INTO t (id, a, b) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
        assert_eq!(Dialect::Postgres.placeholder(12).to_string(), "$12");
    }

    #[test]
    fn an_upsert_may_replace_some_columns_only() {
        let u = Upsert {
            update: Some(&["b"]),
            ..T
        };
        assert_eq!(
            Dialect::Sqlite.upsert_sql(&u, 1),
            "INSERT INTO t (id, a, b) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET b = excluded.b"
        );
    }

    #[test]
    fn a_table_of_key_columns_only_does_nothing_on_conflict() {
        let u = Upsert {
            table: "pair",
            columns: &["a", "b"],
            key: &["a", "b"],
            update: None,
        };
        assert_eq!(
            Dialect::Sqlite.upsert_sql(&u, 1),
            "INSERT INTO pair (a, b) VALUES (?, ?) ON CONFLICT (a, b) DO NOTHING"
        );
    }
}
