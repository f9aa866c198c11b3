//! The portable backup format: JSON lines, readable by either database and by `jq`.
//!
//! ```text
//! {"format":"tandem-backup","version":1,"schema":6,"source":"postgres","created_at":"…",
//!  "documents":2,"bytes":5120,"counters":{"documents":2,"updates":812,…}}
//! {"table":"documents","row":{"id":1,"name":"notes","title":"Notes",…}}
//! {"table":"snapshots","row":{"document_id":1,"state":"AQL…","upto_seq":700,…}}
//! {"table":"updates","row":{"seq":701,"document_id":1,"data":"AQG…","author":"Ann",…}}
//! {"table":"versions","row":{"document_id":1,"version":1,"label":"draft",…}}
//! … every document's rows after its `documents` row, then the webhook tables …
//! {"end":{"documents":2,"rows":31}}
//! ```
//!
//! One line per row, each with its table's column names: bytes are base64 (standard
//! alphabet), times RFC 3339 in UTC, NULL is `null`. The last line counts what came
//! before it, so a file cut short is refused instead of restored in part.

use std::io::Write;

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use super::{
    tables::{Kind, Row, Table, Value},
    CopyError, DocEntry, Header, Summary, Target,
};

/// The first line's `format`.
pub const FORMAT: &str = "tandem-backup";
/// The first line's `version`: how lines are laid out (not the schema, which is `schema`).
pub const VERSION: u64 = 1;

pub(super) fn header_json(header: &Header) -> Json {
    json!({
        "format": FORMAT,
        "version": VERSION,
        "schema": header.schema,
        "source": header.backend,
        "created_at": header.created_at,
        "documents": header.documents,
        "bytes": header.bytes,
        "counters": header.counters,
    })
}

pub(super) fn row_json(table: &Table, row: &Row) -> Json {
    let mut map = Map::with_capacity(row.len());
    for ((name, _), value) in table.columns.iter().zip(row) {
        let v = match value {
            Value::Null => Json::Null,
            Value::Int(v) => json!(v),
            Value::Text(v) => json!(v),
            Value::Bytes(v) => json!(base64::engine::general_purpose::STANDARD.encode(v)),
            Value::Time(v) => json!(v),
        };
        map.insert(name.to_string(), v);
    }
    json!({ "table": table.name, "row": map })
}

/// A row's values from its JSON object, each read as its column's type.
pub(super) fn row_from_json(table: &Table, row: &Map<String, Json>) -> Result<Row, String> {
    table
        .columns
        .iter()
        .map(|(name, kind)| {
            let v = row
                .get(*name)
                .ok_or_else(|| format!("{}.{name} is missing", table.name))?;
            let bad = || format!("{}.{name} is not a {kind:?} value", table.name);
            Ok(match (kind, v) {
                (_, Json::Null) => Value::Null,
                (Kind::Int, v) => Value::Int(v.as_i64().ok_or_else(bad)?),
                (Kind::Text, Json::String(s)) => Value::Text(s.clone()),
                (Kind::Bytes, Json::String(s)) => Value::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|_| bad())?,
                ),
                (Kind::Time, Json::String(s)) => Value::Time(
                    chrono::DateTime::parse_from_rfc3339(s)
                        .map_err(|_| bad())?
                        .to_utc(),
                ),
                _ => return Err(bad()),
            })
        })
        .collect()
}

/// Writes a portable backup to any byte sink (a file, standard output).
pub struct PortableWriter<W: Write + Send> {
    out: W,
    rows: u64,
    documents: u64,
}

impl<W: Write + Send> PortableWriter<W> {
    pub fn new(out: W) -> Self {
        PortableWriter {
            out,
            rows: 0,
            documents: 0,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, value: &Json) -> Result<(), CopyError> {
        serde_json::to_writer(&mut self.out, value).map_err(std::io::Error::from)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl<W: Write + Send> Target for PortableWriter<W> {
    async fn start(&mut self, header: &Header) -> Result<(), CopyError> {
        self.line(&header_json(header))
    }

    async fn begin_document(&mut self, _entry: &DocEntry) -> Result<(), CopyError> {
        self.documents += 1;
        Ok(())
    }

    async fn rows(&mut self, table: &'static Table, rows: &[Row]) -> Result<(), CopyError> {
        for row in rows {
            self.line(&row_json(table, row))?;
            self.rows += 1;
        }
        Ok(())
    }

    async fn end_document(&mut self) -> Result<(), CopyError> {
        Ok(())
    }

    async fn begin_rest(&mut self) -> Result<(), CopyError> {
        Ok(())
    }

    async fn finish(&mut self, _header: &Header, _summary: &Summary) -> Result<(), CopyError> {
        let end = json!({ "end": { "documents": self.documents, "rows": self.rows } });
        self.line(&end)?;
        self.out.flush()?;
        Ok(())
    }
}
