//! Reading rows out of a table page by page and writing them into another database, with
//! the same statements on both drivers.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::{
    database::{on_conn, Backend},
    tables::{Kind, Row, Table, Value},
    CopyError, Database,
};

/// The values of `row`'s key columns: where the next page starts.
pub fn key_of(table: &Table, row: &Row) -> Vec<Value> {
    table
        .key
        .iter()
        .map(|k| row[table.column(k).expect("key column")].clone())
        .collect()
}

/// Decodes every column of a driver's row by the type the table says it has.
macro_rules! decode_row {
    ($table:expr, $row:expr) => {{
        let mut out: Row = Vec::with_capacity($table.columns.len());
        for (i, (_, kind)) in $table.columns.iter().enumerate() {
            let value = match kind {
                Kind::Int => $row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                Kind::Text => $row.try_get::<Option<String>, _>(i)?.map(Value::Text),
                Kind::Bytes => $row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Bytes),
                Kind::Time => $row
                    .try_get::<Option<DateTime<Utc>>, _>(i)?
                    .map(Value::Time),
            };
            out.push(value.unwrap_or(Value::Null));
        }
        out
    }};
}

/// Binds `value` as a parameter of the column's type (a NULL too: PostgreSQL wants it
/// typed like its column).
macro_rules! bind_value {
    ($builder:expr, $kind:expr, $value:expr) => {
        match ($kind, $value) {
            (Kind::Int, Value::Int(v)) => $builder.push_bind(Some(*v)),
            (Kind::Text, Value::Text(v)) => $builder.push_bind(Some(v.clone())),
            (Kind::Bytes, Value::Bytes(v)) => $builder.push_bind(Some(v.clone())),
            (Kind::Time, Value::Time(v)) => $builder.push_bind(Some(*v)),
            (Kind::Int, _) => $builder.push_bind(None::<i64>),
            (Kind::Text, _) => $builder.push_bind(None::<String>),
            (Kind::Bytes, _) => $builder.push_bind(None::<Vec<u8>>),
            (Kind::Time, _) => $builder.push_bind(None::<DateTime<Utc>>),
        }
    };
}

impl Database {
    /// The next page of `table`'s rows in key order after `after` (from the start when
    /// `None`), only those of `document` when given.
    pub async fn read_page(
        &mut self,
        table: &Table,
        document: Option<i64>,
        after: Option<&[Value]>,
    ) -> Result<Vec<Row>, CopyError> {
        let columns: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
        let key = table.key.join(", ");
        let rows = on_conn!(&mut self.conn, c => {
            let mut q = sqlx::QueryBuilder::new(format!(
                "SELECT {} FROM {} WHERE 1 = 1",
                columns.join(", "),
                table.name
            ));
            if let (Some(id), Some(col)) = (document, table.document) {
                q.push(format!(" AND {col} = ")).push_bind(id);
            }
            if let Some(after) = after {
                q.push(format!(" AND ({key}) > ("));
                for (i, (k, v)) in table.key.iter().zip(after).enumerate() {
                    if i > 0 {
                        q.push(", ");
                    }
                    let kind = table.columns[table.column(k).expect("key column")].1;
                    bind_value!(q, kind, v);
                }
                q.push(")");
            }
            q.push(format!(" ORDER BY {key} LIMIT {}", table.page));
            let fetched = q.build().fetch_all(&mut *c).await?;
            let mut rows = Vec::with_capacity(fetched.len());
            for r in &fetched {
                rows.push(decode_row!(table, r));
            }
            rows
        });
        Ok(rows)
    }

    /// Inserts rows as they are, keys included.
    pub async fn insert(&mut self, table: &Table, rows: &[Row]) -> Result<(), CopyError> {
        if rows.is_empty() {
            return Ok(());
        }
        let columns: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
        // PostgreSQL numbers identity columns itself unless told to keep the given value.
        let overriding = match (self.backend(), table.identity) {
            (Backend::Postgres, Some(_)) => " OVERRIDING SYSTEM VALUE",
            _ => "",
        };
        on_conn!(&mut self.conn, c => {
            let mut q = sqlx::QueryBuilder::new(format!(
                "INSERT INTO {} ({}){overriding} ",
                table.name,
                columns.join(", ")
            ));
            q.push_values(rows, |mut b, row| {
                for ((_, kind), value) in table.columns.iter().zip(row) {
                    bind_value!(b, *kind, value);
                }
            });
            q.build().execute(&mut *c).await?;
        });
        Ok(())
    }

    /// Removes a document with everything stored for it (a stale or partial copy).
    pub async fn delete_document(&mut self, id: i64) -> Result<(), CopyError> {
        on_conn!(&mut self.conn, c => {
            for table in super::tables::DOCUMENT_TABLES.iter().rev() {
                let col = table.document.expect("document tables name their document");
                sqlx::query(&format!("DELETE FROM {} WHERE {col} = $1", table.name))
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
            }
        });
        Ok(())
    }

    /// Deletes every row of a table.
    pub async fn clear(&mut self, table: &Table) -> Result<(), CopyError> {
        self.execute(&format!("DELETE FROM {}", table.name)).await
    }

    pub async fn begin(&mut self) -> Result<(), CopyError> {
        self.execute("BEGIN").await
    }

    pub async fn commit(&mut self) -> Result<(), CopyError> {
        self.execute("COMMIT").await
    }
}
