//! A database as the source of a copy (read at one instant) and as its target (one
//! transaction per document).

use super::{
    rows::key_of,
    tables::{DOCUMENT_TABLES, OTHER_TABLES},
    CopyError, Database, DocEntry, Header, Row, Source, Summary, Table, Target, Value,
};

/// Reads a database inside one read transaction, from [`DbSource::open`] to
/// [`DbSource::close`]: what it gives is the database as it was at one instant, however
/// long the copy takes and whatever the server writes meanwhile.
pub struct DbSource {
    db: Database,
    header: Header,
    entries: Vec<DocEntry>,
    /// The document being read (index into `entries`), `None` before the first.
    current: Option<usize>,
    /// Past the documents: reading the other tables.
    rest: bool,
    table: usize,
    after: Option<Vec<Value>>,
}

impl DbSource {
    pub async fn open(mut db: Database) -> Result<DbSource, CopyError> {
        db.begin_read().await?;
        let counters = db.counters().await?;
        let entries = db.documents().await?;
        let header = Header {
            schema: db.schema_version().await?,
            backend: db.backend().as_str().to_string(),
            created_at: chrono::Utc::now(),
            documents: entries.len() as u64,
            bytes: entries.iter().map(|e| e.bytes).sum(),
            counters,
        };
        Ok(DbSource {
            db,
            header,
            entries,
            current: None,
            rest: false,
            table: 0,
            after: None,
        })
    }

    /// The documents the copy will give, in order.
    pub fn entries(&self) -> &[DocEntry] {
        &self.entries
    }

    /// Ends the read; the database, for more work.
    pub async fn close(mut self) -> Result<Database, CopyError> {
        self.db.end_read().await?;
        Ok(self.db)
    }
}

#[async_trait::async_trait]
impl Source for DbSource {
    fn header(&self) -> &Header {
        &self.header
    }

    async fn next_document(&mut self) -> Result<Option<DocEntry>, CopyError> {
        if self.rest {
            return Ok(None);
        }
        let next = self.current.map_or(0, |i| i + 1);
        self.table = 0;
        self.after = None;
        if next >= self.entries.len() {
            self.rest = true;
            self.current = None;
            return Ok(None);
        }
        self.current = Some(next);
        Ok(Some(self.entries[next].clone()))
    }

    async fn next_rows(&mut self) -> Result<Option<(&'static Table, Vec<Row>)>, CopyError> {
        let (tables, document) = match (self.rest, self.current) {
            (true, _) => (OTHER_TABLES, None),
            (false, Some(i)) => (DOCUMENT_TABLES, Some(self.entries[i].id)),
            (false, None) => return Ok(None),
        };
        while let Some(table) = tables.get(self.table).copied() {
            let page = self
                .db
                .read_page(table, document, self.after.as_deref())
                .await?;
            // A short page is the table's last: the next call moves on without asking.
            if (page.len() as i64) < table.page {
                self.table += 1;
                self.after = None;
            } else {
                self.after = page.last().map(|row| key_of(table, row));
            }
            if !page.is_empty() {
                return Ok(Some((table, page)));
            }
        }
        Ok(None)
    }
}

/// Writes into a database: each document in one transaction (its stale copy, if any,
/// deleted first), then the other tables and the counters in one more.
pub struct DbTarget {
    db: Database,
}

impl DbTarget {
    pub fn new(db: Database) -> DbTarget {
        DbTarget { db }
    }

    pub fn into_inner(self) -> Database {
        self.db
    }
}

#[async_trait::async_trait]
impl Target for DbTarget {
    async fn start(&mut self, header: &Header) -> Result<(), CopyError> {
        let ours = self.db.schema_version().await?;
        if header.schema > ours {
            return Err(CopyError::NewerSchema {
                backup: header.schema,
                ours,
            });
        }
        // Each document's commit need not wait for the disk: a copy cut short by a crash
        // is run again (whole documents are skipped, lost ones copied again). The last
        // commit waits, and with it everything written before (`begin_rest`).
        self.db.set_synchronous(false).await?;
        // Counters first: a target used before the copy ends (by mistake, or to look)
        // still numbers new rows past every row the copy brings.
        self.db.raise_counters(&header.counters).await
    }

    async fn begin_document(&mut self, entry: &DocEntry) -> Result<(), CopyError> {
        self.db.begin().await?;
        self.db.delete_document(entry.id).await
    }

    async fn rows(&mut self, table: &'static Table, rows: &[Row]) -> Result<(), CopyError> {
        self.db.insert(table, rows).await
    }

    async fn end_document(&mut self) -> Result<(), CopyError> {
        self.db.commit().await
    }

    async fn begin_rest(&mut self) -> Result<(), CopyError> {
        self.db.set_synchronous(true).await?;
        self.db.begin().await?;
        for table in OTHER_TABLES.iter().rev() {
            self.db.clear(table).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, header: &Header, _summary: &Summary) -> Result<(), CopyError> {
        self.db.raise_counters(&header.counters).await?;
        self.db.commit().await
    }
}
