//! What a copy carries: every table of the schema (as of the latest migration), its
//! columns and their types, and how its rows are ordered.
//!
//! Rows are copied with their keys as they are (document ids, log positions, endpoint
//! ids), so that the change feed's positions, webhook cursors and everything else that
//! refers to a row by number still mean the same in the copy. A test compares this list
//! with the tables the migrations create: a migration that adds a table or a column
//! without a line here fails it, instead of backups silently leaving it out.

use chrono::{DateTime, Utc};

/// How a column's values are read and written (the same four in both databases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bytes,
    Time,
}

/// One stored value; `Null` for SQL NULL in any column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Time(DateTime<Utc>),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }

    /// Bytes this value adds to a copy, for progress reports.
    pub fn size(&self) -> u64 {
        match self {
            Value::Text(v) => v.len() as u64,
            Value::Bytes(v) => v.len() as u64,
            _ => 8,
        }
    }
}

/// One row, its values in the order of its table's [`Table::columns`].
pub type Row = Vec<Value>;

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Columns whose values order the rows and tell them apart (within a document, for a
    /// table copied document by document).
    pub key: &'static [&'static str],
    /// The column naming the row's document, for tables copied with their document.
    pub document: Option<&'static str>,
    /// The column the database numbers itself (identity / AUTOINCREMENT). Its values are
    /// copied as they are; the counter behind it is carried over too (see `Counters`).
    pub identity: Option<&'static str>,
    /// Rows read per query: fewer where a row may be a whole document's state.
    pub page: i64,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(c, _)| *c == name)
    }

    pub fn by_name(name: &str) -> Option<&'static Table> {
        DOCUMENT_TABLES
            .iter()
            .chain(OTHER_TABLES)
            .copied()
            .find(|t| t.name == name)
    }
}

use Kind::{Bytes, Int, Text, Time};

pub static DOCUMENTS: Table = Table {
    name: "documents",
    columns: &[
        ("id", Int),
        ("name", Text),
        ("title", Text),
        ("kind", Text),
        ("created_at", Time),
        ("updated_at", Time),
        ("size_bytes", Int),
        ("last_seq", Int),
    ],
    key: &["id"],
    document: Some("id"),
    identity: Some("id"),
    page: 1,
};

pub static SNAPSHOTS: Table = Table {
    name: "snapshots",
    columns: &[
        ("document_id", Int),
        ("state", Bytes),
        ("state_vector", Bytes),
        ("upto_seq", Int),
        ("created_at", Time),
    ],
    key: &["document_id"],
    document: Some("document_id"),
    identity: None,
    page: 1,
};

pub static UPDATES: Table = Table {
    name: "updates",
    columns: &[
        ("seq", Int),
        ("document_id", Int),
        ("data", Bytes),
        ("created_at", Time),
        ("author", Text),
    ],
    key: &["seq"],
    document: Some("document_id"),
    identity: Some("seq"),
    page: 500,
};

pub static VERSIONS: Table = Table {
    name: "versions",
    columns: &[
        ("document_id", Int),
        ("version", Int),
        ("kind", Text),
        ("label", Text),
        ("authors", Text),
        ("format", Text),
        ("created_at", Time),
        ("size_bytes", Int),
        ("text", Text),
        ("state", Bytes),
        ("state_vector", Bytes),
    ],
    key: &["version"],
    document: Some("document_id"),
    identity: None,
    page: 8,
};

pub static WEBHOOK_ENDPOINTS: Table = Table {
    name: "webhook_endpoints",
    columns: &[
        ("id", Int),
        ("url", Text),
        ("prefix", Text),
        ("document", Text),
        ("events", Text),
        ("secret", Text),
        ("previous_secret", Text),
        ("previous_secret_until_ms", Int),
        ("created_at", Time),
        ("disabled_at", Time),
        ("disabled_reason", Text),
        ("lease_owner", Text),
        ("lease_until_ms", Int),
    ],
    key: &["id"],
    document: None,
    identity: Some("id"),
    page: 200,
};

pub static WEBHOOK_CURSORS: Table = Table {
    name: "webhook_cursors",
    columns: &[
        ("endpoint_id", Int),
        ("document_id", Int),
        ("document", Text),
        ("seq", Int),
        ("version", Int),
    ],
    key: &["endpoint_id", "document_id"],
    document: None,
    identity: None,
    page: 500,
};

pub static WEBHOOK_MESSAGES: Table = Table {
    name: "webhook_messages",
    columns: &[
        ("id", Text),
        ("endpoint_id", Int),
        ("document_id", Int),
        ("document", Text),
        ("event", Text),
        ("upto_seq", Int),
        ("upto_version", Int),
        ("body", Text),
        ("created_at", Time),
        ("attempts", Int),
        ("next_attempt_ms", Int),
    ],
    key: &["id"],
    document: None,
    identity: None,
    page: 100,
};

pub static WEBHOOK_ATTEMPTS: Table = Table {
    name: "webhook_attempts",
    columns: &[
        ("id", Int),
        ("endpoint_id", Int),
        ("message_id", Text),
        ("event", Text),
        ("document", Text),
        ("attempt", Int),
        ("outcome", Text),
        ("status", Int),
        ("duration_ms", Int),
        ("error", Text),
        ("at", Time),
    ],
    key: &["id"],
    document: None,
    identity: Some("id"),
    page: 500,
};

/// Copied with each document, in this order (the document's row first: the others
/// refer to it).
/// Share links (migration 0007): named by document name, so copied whole like the webhooks'
/// tables; a restored server keeps every link and its revocation.
pub static SHARE_LINKS: Table = Table {
    name: "share_links",
    columns: &[
        ("id", Text),
        ("document", Text),
        ("access", Text),
        ("name", Text),
        ("created_by", Text),
        ("created_at", Int),
        ("expires_at", Int),
        ("revoked_at", Int),
        ("token", Text),
    ],
    key: &["id"],
    document: None,
    identity: None,
    page: 200,
};

pub static DOCUMENT_TABLES: &[&Table] = &[&DOCUMENTS, &SNAPSHOTS, &UPDATES, &VERSIONS];

/// Copied whole after the documents (endpoints first: the others refer to them).
pub static OTHER_TABLES: &[&Table] = &[
    &WEBHOOK_ENDPOINTS,
    &WEBHOOK_CURSORS,
    &WEBHOOK_MESSAGES,
    &WEBHOOK_ATTEMPTS,
    &SHARE_LINKS,
];

/// Tables that are the database's own bookkeeping, not Tandem's data.
#[cfg(test)]
const NOT_COPIED: &[&str] = &["_sqlx_migrations", "sqlite_sequence"];

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Row as _};

    /// A migration that adds a table or column must add it here too, or backups would
    /// leave it out without a word.
    #[tokio::test]
    async fn every_table_and_column_of_the_schema_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        drop(crate::SqliteStore::open(&url).await.unwrap());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let mut schema: Vec<(String, Vec<String>)> = Vec::new();
        for t in tables.iter().filter(|t| !NOT_COPIED.contains(&t.as_str())) {
            let mut cols: Vec<String> = sqlx::query(&format!("PRAGMA table_info({t})"))
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("name"))
                .collect();
            cols.sort();
            schema.push((t.clone(), cols));
        }
        let mut ours: Vec<(String, Vec<String>)> = DOCUMENT_TABLES
            .iter()
            .chain(OTHER_TABLES)
            .map(|t| {
                let mut cols: Vec<String> = t.columns.iter().map(|c| c.0.to_string()).collect();
                cols.sort();
                (t.name.to_string(), cols)
            })
            .collect();
        ours.sort();
        assert_eq!(ours, schema);
    }
}
