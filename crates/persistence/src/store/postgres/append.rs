//! PostgreSQL's group commit: one statement, so one round trip, per commit.
//!
//! A statement outside `BEGIN` is its own transaction, and data-modifying `WITH` queries let
//! one statement lock the batch's documents, insert its rows and move each document's
//! `last_seq`. The transaction of several statements it replaces cost a round trip each
//! (begin, a touch per document, the insert, commit). What that transaction promised holds:
//!
//! - Rows are locked in name order (`ORDER BY ... FOR UPDATE` locks rows as the sort
//!   returns them), so two instances' batches over the same documents queue instead of
//!   deadlocking. `COLLATE "C"` is byte order, the order of Rust's `str` that the other path
//!   below and older instances use.
//! - A row takes its sequence number only after its document's lock (the insert reads the
//!   locked rows), so appends to one document commit in `seq` order; and after the statement
//!   holds a transaction id (a row lock takes one), which the change feed's horizon relies on.
//! - A document known by id that was deleted meanwhile is not written back (`gone`).
//! - At the `process` durability level the statement sets `synchronous_commit = off` for
//!   its own transaction (`set_config(..., true)`), which its commit then reads.
//!
//! At the `process` level the statement goes out on a connection of the append's own
//! (`lanes.rs`), not through the pool, whose pings would add two round trips. At `disk`
//! it goes through the pool: the lanes measured slower there (see BENCHMARKS.md).
//!
//! A batch naming a document that does not exist yet (its first write) takes the transaction
//! of several statements instead, which creates it: the statement finds the name missing
//! and writes nothing.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::{
    store::{group_by_doc, Group},
    AppendItem, Appended, Durability, Result,
};

/// The append statement; `$sync` is what it evaluates before the insert (the durability).
macro_rules! append_sql {
    ($sync:literal) => {
        concat!(
            "WITH locked AS (
                 SELECT d.id, d.name, d.last_seq FROM documents d
                 WHERE d.id = ANY($1::bigint[]) OR d.name = ANY($2::text[])
                 ORDER BY d.name COLLATE \"C\"
                 FOR UPDATE),
             missing AS (
                 SELECT m.name FROM UNNEST($2::text[]) AS m(name)
                 WHERE m.name NOT IN (SELECT name FROM locked)),
             groups AS (
                 SELECT g.n, g.bytes, l.id, l.last_seq
                 FROM UNNEST($3::text[], $4::bigint[], $5::bigint[])
                      WITH ORDINALITY AS g(name, id, bytes, n)
                 JOIN locked l ON l.id = g.id OR (g.id IS NULL AND l.name = g.name)),
             ins AS (
                 INSERT INTO updates (document_id, data, created_at, author)
                 SELECT g.id, r.data, $6, r.author
                 FROM UNNEST($7::bigint[], $8::bytea[], $9::text[])
                      WITH ORDINALITY AS r(n, data, author, ord)
                 JOIN groups g ON g.n = r.n
                 WHERE NOT EXISTS (SELECT FROM missing) AND ",
            $sync,
            " IS NOT NULL
                 ORDER BY r.ord
                 RETURNING document_id, seq),
             heads AS (SELECT document_id AS id, MAX(seq) AS seq FROM ins GROUP BY document_id),
             moved AS (
                 UPDATE documents d
                 SET updated_at = $6, size_bytes = d.size_bytes + b.bytes, last_seq = h.seq
                 FROM heads h
                 JOIN (SELECT id, CAST(SUM(bytes) AS BIGINT) AS bytes FROM groups GROUP BY id) b
                   ON b.id = h.id
                 WHERE d.id = h.id)
             SELECT g.n, g.id, g.last_seq AS prev_seq, h.seq AS last_seq
             FROM groups g LEFT JOIN heads h ON h.id = g.id"
        )
    };
}

/// `set_config` with `is_local` lasts to the end of the statement's own transaction.
pub(super) const APPEND_PROCESS: &str =
    append_sql!("(SELECT set_config('synchronous_commit', 'off', true))");
const APPEND_DISK: &str = append_sql!("'disk'");

/// `(id, last_seq before)` of each group that was written; `None`: gone.
type Heads = Vec<Option<(i64, i64)>>;

impl PostgresStore {
    /// A group commit; see [`Store::append`](crate::Store::append).
    pub(super) async fn append_items(&self, items: &[AppendItem]) -> Result<Vec<Appended>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let groups = group_by_doc(items);
        let (heads, last) = match self.append_statement(items, &groups, now).await? {
            Some(done) => done,
            None => self.append_in_steps(items, &groups, now).await?,
        };
        Ok(crate::store::appended(groups, heads, last))
    }

    /// The one-statement commit; `None` (nothing written) when a document named without
    /// an id does not exist.
    async fn append_statement(
        &self,
        items: &[AppendItem],
        groups: &[Group<'_>],
        now: DateTime<Utc>,
    ) -> Result<Option<(Heads, Vec<i64>)>> {
        let known: Vec<i64> = groups.iter().filter_map(|g| g.doc_id).collect();
        let unknown: Vec<&str> = groups
            .iter()
            .filter(|g| g.doc_id.is_none())
            .map(|g| g.doc)
            .collect();
        let names: Vec<&str> = groups.iter().map(|g| g.doc).collect();
        let ids: Vec<Option<i64>> = groups.iter().map(|g| g.doc_id).collect();
        let bytes: Vec<i64> = groups.iter().map(|g| g.bytes).collect();
        // Groups are numbered from 1, as `WITH ORDINALITY` numbers them.
        let of_item: Vec<i64> = items
            .iter()
            .map(|item| groups.iter().position(|g| g.doc == item.doc).unwrap_or(0) as i64 + 1)
            .collect();
        let data: Vec<&[u8]> = items.iter().map(|item| item.data.as_slice()).collect();
        let authors: Vec<Option<&str>> = items.iter().map(|item| item.author.as_deref()).collect();
        let sql = match self.durability {
            Durability::Process => APPEND_PROCESS,
            Durability::Disk => APPEND_DISK,
        };
        let query = sqlx::query(sql)
            .bind(&known)
            .bind(&unknown)
            .bind(&names)
            .bind(&ids)
            .bind(&bytes)
            .bind(now)
            .bind(&of_item)
            .bind(&data)
            .bind(&authors);
        let rows = match self.durability {
            Durability::Process => {
                let mut lane = self.lanes.lane().await;
                match query.fetch_all(lane.conn().await?).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        lane.failed(&error);
                        return Err(error.into());
                    }
                }
            }
            // Measured slower on a lane than through the pool at this level (commits wait
            // for the WAL flush either way; why the lane's wait is longer is not known yet).
            Durability::Disk => query.fetch_all(&self.writes).await?,
        };
        let mut heads: Heads = vec![None; groups.len()];
        let mut last = vec![0; groups.len()];
        for row in rows {
            let i = usize::try_from(row.try_get::<i64, _>("n")? - 1).unwrap_or(usize::MAX);
            let Some(head) = heads.get_mut(i) else {
                continue;
            };
            let prev: i64 = row.try_get("prev_seq")?;
            *head = Some((row.try_get("id")?, prev));
            last[i] = row.try_get::<Option<i64>, _>("last_seq")?.unwrap_or(prev);
        }
        if groups
            .iter()
            .zip(&heads)
            .any(|(g, h)| g.doc_id.is_none() && h.is_none())
        {
            return Ok(None);
        }
        Ok(Some((heads, last)))
    }
}

// The commit as a transaction of several statements (`append_in_steps`), which creates the
// documents named without an id that do not exist yet; shared with SQLite.
crate::store::log_sql::impl_append!(PostgresStore);

impl PostgresStore {
    /// Each document is touched by its own statement, in name order, like the statement's
    /// locks: there is no batch touch here (the fallback is rare: a document's first write).
    async fn touch_known(
        _tx: &mut PgConnection,
        _known: &[(i64, i64)],
        _now: DateTime<Utc>,
    ) -> Result<Option<Vec<(i64, i64)>>> {
        Ok(None)
    }

    /// Inserts the batch and moves each document's `last_seq` to its highest new row, in one
    /// statement; returns each row's `(document_id, seq)`. The rows were locked by the touch.
    async fn insert_updates(
        tx: &mut PgConnection,
        doc_ids: &[i64],
        data: &[&[u8]],
        authors: &[Option<&str>],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "WITH ins AS (
             INSERT INTO updates (document_id, data, created_at, author)
             SELECT d, u, $3, a
             FROM UNNEST($1::bigint[], $2::bytea[], $4::text[]) AS t(d, u, a)
             RETURNING document_id, seq),
         moved AS (
             UPDATE documents d SET last_seq = m.s
             FROM (SELECT document_id, MAX(seq) AS s FROM ins GROUP BY document_id) m
             WHERE d.id = m.document_id)
         SELECT document_id, seq FROM ins",
        )
        .bind(doc_ids)
        .bind(data)
        .bind(now)
        .bind(authors)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("document_id")?, row.try_get("seq")?)))
            .collect()
    }
}
