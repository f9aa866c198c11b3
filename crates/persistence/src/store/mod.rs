//! The storage interface and the choice of backend.

mod check_sql;
mod feed_sql;
mod impl_links;
mod impl_store;
mod impl_webhooks;
mod log_sql;
pub mod postgres;
mod sql;
pub mod sqlite;
mod sqlite_append;
mod webhook_sql;

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    AppendItem, Appended, ChangePage, CompactStats, ContentKind, DocumentInfo, Durability,
    FeedFilter, LogRows, NewVersion, Repair, Result, Snapshot, StoreError, StoredDoc, Version,
    VersionInfo, VersionRetention,
};

/// Durable home of documents. Every method is one transaction: a crash between two calls
/// leaves the database in a state that [`Store::load`] turns into a correct document.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name of the backend, for logs and metrics (`sqlite` or `postgres`).
    fn backend(&self) -> &'static str;

    /// How far a commit gets before it returns (see [`Durability`]).
    fn durability(&self) -> Durability {
        Durability::Disk
    }

    /// How many [`Store::append`] calls may usefully run at once. Appends for different
    /// documents may then commit in any order; one document's batches must still be
    /// appended one after the other.
    fn concurrent_appends(&self) -> usize {
        1
    }

    /// Snapshot plus later updates, read consistently; `None` if the document never existed.
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>>;

    /// Appends updates for any number of documents in one transaction (group commit),
    /// creating documents that don't exist yet. Returns the last sequence number per document.
    async fn append(&self, items: &[AppendItem]) -> Result<Vec<Appended>>;

    /// What [`Store::load`] returns, less what a reader that has applied every update up to
    /// `after_seq` already has: only later updates, plus the snapshot if compaction has
    /// folded some of them into it. `last_seq` is the document's latest sequence number.
    async fn load_since(&self, doc: &str, after_seq: i64) -> Result<Option<StoredDoc>>;

    /// The latest sequence number of each of `docs` that exists (one query), so several
    /// instances holding the same documents can tell whether they are behind.
    async fn last_seqs(&self, docs: &[String]) -> Result<Vec<(String, i64)>>;

    /// Committed changes after position `after` that `filter` admits, oldest first, at most
    /// `limit` (see `crate::feed`). Never past the horizon, so a reader that asks again
    /// from `next` misses nothing, even when commits finish out of position order. A
    /// document compacted past `after` shows up as [`crate::FeedItem::Compacted`]: its rows
    /// up to there are gone, [`Store::load_until`] gives its state instead. Reads only.
    async fn changes_after(
        &self,
        after: i64,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<ChangePage>;

    /// The document's state at position `upto`: its snapshot and its changes up to there.
    /// `last_seq` says where the state stands: `upto`, or further when compaction has
    /// already folded later changes into the snapshot (the state at `upto` is gone then).
    async fn load_until(&self, doc: &str, upto: i64) -> Result<Option<StoredDoc>>;

    /// Who wrote the document's (by id) log rows in `(after, upto]`, each name once,
    /// sorted; rows without a known author, and rows compaction removed, name nobody.
    async fn change_authors(&self, doc_id: i64, after: i64, upto: i64) -> Result<Vec<String>>;

    /// The feed's horizon now: [`Store::changes_after`] from here returns only changes
    /// committed later. `Unavailable` while in-flight writers keep it from settling.
    async fn feed_head(&self) -> Result<i64>;

    /// Replaces the current snapshot and deletes the updates it covers, atomically. Does
    /// nothing (`skipped`) if the document no longer exists or another writer is compacting
    /// it; never moves the snapshot back to an older `upto_seq`.
    async fn compact(&self, doc: &str, snapshot: &Snapshot) -> Result<CompactStats>;

    /// Creates an empty document; `AlreadyExists` if the name is taken.
    async fn create_document(&self, doc: &str) -> Result<DocumentInfo> {
        self.create_titled(doc, "").await
    }

    /// Creates an empty plain-text document with a title; `AlreadyExists` if the name is
    /// taken.
    async fn create_titled(&self, doc: &str, title: &str) -> Result<DocumentInfo> {
        self.create_of_kind(doc, title, ContentKind::Text).await
    }

    /// Creates an empty document of a kind, with a title; `AlreadyExists` if the name is
    /// taken.
    async fn create_of_kind(
        &self,
        doc: &str,
        title: &str,
        kind: ContentKind,
    ) -> Result<DocumentInfo>;

    /// Sets a document's title, creating the document if it is not stored yet (a document
    /// exists as soon as someone opens it, before its first write).
    async fn set_title(&self, doc: &str, title: &str) -> Result<DocumentInfo>;

    async fn document(&self, doc: &str) -> Result<Option<DocumentInfo>>;

    /// All documents, most recently edited first.
    async fn list_documents(&self) -> Result<Vec<DocumentInfo>>;

    /// Deletes a document with its log, snapshot and history. `false` if it did not exist.
    async fn delete_document(&self, doc: &str) -> Result<bool>;

    /// Stores a new version numbered one past the latest, creating the document if needed.
    async fn create_version(&self, doc: &str, version: &NewVersion) -> Result<VersionInfo>;

    /// Stores an automatic version, unless the document no longer exists, another writer is
    /// storing one for it right now, or `unchanged(state_vector, text)` says the latest
    /// version holds this state (several instances holding a document would otherwise each
    /// store the same one). `None` when skipped.
    async fn create_auto_version(
        &self,
        doc: &str,
        version: &NewVersion,
        unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
    ) -> Result<Option<VersionInfo>>;

    /// Stores a named version, creating the document if needed, unless
    /// `unchanged(state_vector, text)` says the latest version holds this state: that one is
    /// named instead (an automatic or restore version takes the label; a named one keeps its
    /// own), so naming a document that has not changed stores no second copy of it.
    async fn create_named_version(
        &self,
        doc: &str,
        version: &NewVersion,
        unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
    ) -> Result<VersionInfo>;

    /// Versions of a document, newest first.
    async fn list_versions(&self, doc: &str) -> Result<Vec<VersionInfo>>;

    async fn version(&self, doc: &str, version: i64) -> Result<Option<Version>>;

    /// The document's log row by row with sequence numbers, its snapshot and counters, read
    /// at one instant, for `tandem check` (see `crate::integrity`).
    async fn log_rows(&self, _doc: &str) -> Result<Option<LogRows>> {
        Err(StoreError::Unavailable(
            "this store cannot list its rows".into(),
        ))
    }

    /// Rewrites one derived value (see [`Repair`]); false if there was nothing to change
    /// or the document is gone.
    async fn repair(&self, _doc: &str, _repair: &Repair) -> Result<bool> {
        Ok(false)
    }

    /// Deletes the automatic versions `keep` lets go, of one document or (`None`) of all;
    /// returns how many.
    async fn prune_versions(&self, _doc: Option<&str>, _keep: &VersionRetention) -> Result<u64> {
        Ok(0)
    }

    /// Cheap round trip used by readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Webhook endpoints, cursors and deliveries (`None`: a store without them, such as a
    /// test's wrapper; the server then delivers no webhooks).
    fn webhooks(&self) -> Option<&dyn crate::WebhookStore> {
        None
    }

    /// Share links (`None`: a store without them; the server then mints links it cannot
    /// list, revoke or shorten).
    fn links(&self) -> Option<&dyn crate::LinkStore> {
        None
    }
}

/// Opens (and migrates) the store named by a database URL: `sqlite://path` (or a bare
/// `sqlite:` URL) for SQLite, `postgres://` / `postgresql://` for PostgreSQL, with the
/// default durability level.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, Durability::default()).await
}

/// [`open`] with a chosen durability level.
pub async fn open_with(url: &str, durability: Durability) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::open_with(url, durability).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::open_with(url, durability).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// Authors are stored as a JSON array of names so that they read well in SQL; a value that
/// is not one (edited by hand) shows as no authors rather than failing the whole listing.
pub(crate) fn parse_authors(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

pub(crate) fn authors_json(authors: &[String]) -> String {
    serde_json::to_string(authors).unwrap_or_else(|_| "[]".into())
}

/// One document's share of an append batch.
pub(crate) struct Group<'a> {
    pub doc: &'a str,
    pub doc_id: Option<i64>,
    pub bytes: i64,
}

/// Distinct documents of a batch, in first-seen order, with their byte totals.
pub(crate) fn group_by_doc(items: &[crate::AppendItem]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for item in items {
        let bytes = item.data.len() as i64;
        match groups.iter_mut().find(|g| g.doc == item.doc) {
            Some(g) => {
                g.bytes += bytes;
                g.doc_id = g.doc_id.or(item.doc_id);
            }
            None => groups.push(Group {
                doc: &item.doc,
                doc_id: item.doc_id,
                bytes,
            }),
        }
    }
    groups
}

/// What an append answers, one entry per group: `heads[i]` is the document's `(id, last_seq
/// before)` or `None` when it was deleted meanwhile (nothing written), `last[i]` its
/// `last_seq` after. Every backend's append ends here, so they answer alike.
pub(crate) fn appended(
    groups: Vec<Group<'_>>,
    heads: Vec<Option<(i64, i64)>>,
    last: Vec<i64>,
) -> Vec<crate::Appended> {
    groups
        .into_iter()
        .zip(heads)
        .zip(last)
        .map(|((g, head), last_seq)| crate::Appended {
            doc: g.doc.to_string(),
            id: head.map_or(0, |h| h.0),
            prev_seq: head.map_or(0, |h| h.1),
            last_seq,
            gone: head.is_none(),
        })
        .collect()
}

/// Background work on one document that only one writer should do at a time (several
/// Tandem instances may hold the same document). On PostgreSQL each is a transaction-level
/// advisory lock, released at commit or when the holder's connection dies.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockKind {
    Compaction = 1,
    Versions = 2,
}
