//! Reading a portable backup (see `portable`) as the source of a copy, line by line: a
//! backup larger than memory restores in pages like a database does.

use std::io::BufRead;

use serde_json::Value as Json;

use super::{
    portable::{row_from_json, FORMAT, VERSION},
    tables::{Table, DOCUMENTS},
    CopyError, DocEntry, Header, Row, Source,
};

enum Line {
    Row(&'static Table, Row),
    End { documents: u64, rows: u64 },
}

pub struct PortableReader<R: BufRead + Send> {
    input: R,
    line_no: u64,
    header: Header,
    peeked: Option<Line>,
    /// The document whose rows are being read.
    current: Option<i64>,
    /// Its `documents` row, given first by `next_rows`.
    pending: Option<Row>,
    /// Past the documents: reading the other tables.
    rest: bool,
    documents: u64,
    rows: u64,
    /// The end line has been read (and its counts checked).
    ended: bool,
}

impl<R: BufRead + Send> PortableReader<R> {
    /// Reads the first line; refuses anything that is not a portable backup this version
    /// can read.
    pub fn open(mut input: R) -> Result<Self, CopyError> {
        let mut first = String::new();
        input.read_line(&mut first)?;
        let bad = |reason: &str| CopyError::Format {
            line: 1,
            reason: reason.to_string(),
        };
        let h: Json =
            serde_json::from_str(&first).map_err(|_| bad("not a Tandem backup (not JSON)"))?;
        if h["format"] != FORMAT {
            return Err(bad("not a Tandem backup (no \"format\":\"tandem-backup\")"));
        }
        if h["version"].as_u64().is_none_or(|v| v > VERSION) {
            return Err(bad("written in a newer layout than this Tandem reads"));
        }
        let header = Header {
            schema: h["schema"].as_i64().ok_or_else(|| bad("no schema"))?,
            backend: h["source"].as_str().unwrap_or_default().to_string(),
            created_at: serde_json::from_value(h["created_at"].clone())
                .map_err(|_| bad("no created_at"))?,
            documents: h["documents"].as_u64().unwrap_or(0),
            bytes: h["bytes"].as_u64().unwrap_or(0),
            counters: serde_json::from_value(h["counters"].clone())
                .map_err(|_| bad("no counters"))?,
        };
        Ok(PortableReader {
            input,
            line_no: 1,
            header,
            peeked: None,
            current: None,
            pending: None,
            rest: false,
            documents: 0,
            rows: 0,
            ended: false,
        })
    }

    fn error(&self, reason: impl Into<String>) -> CopyError {
        CopyError::Format {
            line: self.line_no,
            reason: reason.into(),
        }
    }

    fn next_line(&mut self) -> Result<Line, CopyError> {
        if let Some(line) = self.peeked.take() {
            return Ok(line);
        }
        let mut text = String::new();
        if self.input.read_line(&mut text)? == 0 {
            return Err(CopyError::Truncated);
        }
        self.line_no += 1;
        let v: Json = serde_json::from_str(&text).map_err(|e| self.error(e.to_string()))?;
        if let Some(end) = v.get("end") {
            return Ok(Line::End {
                documents: end["documents"].as_u64().unwrap_or(u64::MAX),
                rows: end["rows"].as_u64().unwrap_or(u64::MAX),
            });
        }
        let name = v["table"].as_str().unwrap_or_default();
        let table =
            Table::by_name(name).ok_or_else(|| self.error(format!("unknown table {name:?}")))?;
        let row = v["row"]
            .as_object()
            .ok_or_else(|| self.error("a row that is not an object"))?;
        let row = row_from_json(table, row).map_err(|e| self.error(e))?;
        self.rows += 1;
        Ok(Line::Row(table, row))
    }

    /// The document a row of a per-document table belongs to.
    fn document_of(table: &Table, row: &Row) -> Option<i64> {
        let col = table.column(table.document?)?;
        row[col].as_int()
    }
}

#[async_trait::async_trait]
impl<R: BufRead + Send> Source for PortableReader<R> {
    fn header(&self) -> &Header {
        &self.header
    }

    async fn next_document(&mut self) -> Result<Option<DocEntry>, CopyError> {
        self.pending = None;
        while !self.rest {
            match self.next_line()? {
                Line::Row(table, row) if std::ptr::eq(table, &DOCUMENTS) => {
                    let get = |c: &str| &row[DOCUMENTS.column(c).expect("documents column")];
                    let (Some(id), Some(name)) = (get("id").as_int(), get("name").as_text()) else {
                        return Err(self.error("a document without id or name"));
                    };
                    let entry = DocEntry {
                        id,
                        name: name.to_string(),
                        bytes: get("size_bytes").as_int().unwrap_or(0).max(0) as u64,
                        fingerprint: String::new(),
                    };
                    self.documents += 1;
                    self.current = Some(id);
                    self.pending = Some(row);
                    return Ok(Some(entry));
                }
                // The rest of a document the copy skips.
                Line::Row(table, _) if table.document.is_some() => {}
                line => {
                    self.peeked = Some(line);
                    self.rest = true;
                    self.current = None;
                }
            }
        }
        Ok(None)
    }

    async fn next_rows(&mut self) -> Result<Option<(&'static Table, Vec<Row>)>, CopyError> {
        if let Some(row) = self.pending.take() {
            return Ok(Some((&DOCUMENTS, vec![row])));
        }
        if self.ended || (!self.rest && self.current.is_none()) {
            return Ok(None);
        }
        let mut batch: Option<(&'static Table, Vec<Row>)> = None;
        loop {
            let line = self.next_line()?;
            let belongs = match &line {
                Line::Row(table, row) if !self.rest => {
                    !std::ptr::eq(*table, &DOCUMENTS)
                        && Self::document_of(table, row).is_some()
                        && Self::document_of(table, row) == self.current
                }
                Line::Row(table, _) => {
                    if table.document.is_some() {
                        return Err(self.error("document rows after the webhook tables"));
                    }
                    true
                }
                Line::End { .. } => false,
            };
            let fits = match (&batch, &line) {
                (Some((t, rows)), Line::Row(table, _)) => {
                    std::ptr::eq(*t, *table) && (rows.len() as i64) < t.page
                }
                _ => batch.is_none(),
            };
            if !belongs || !fits {
                match line {
                    Line::End { documents, rows } if self.rest => {
                        if documents != self.documents || rows != self.rows {
                            return Err(self.error(format!(
                                "the end line counts {documents} documents and {rows} rows, \
                                 the file holds {} and {}",
                                self.documents, self.rows
                            )));
                        }
                        self.ended = true;
                    }
                    line => self.peeked = Some(line),
                }
                return Ok(batch);
            }
            let Line::Row(table, row) = line else {
                unreachable!("only rows belong")
            };
            match &mut batch {
                Some((_, rows)) => rows.push(row),
                None => batch = Some((table, vec![row])),
            }
        }
    }
}
