//! What a change-feed reader gets from the log: committed updates in *position* order.
//!
//! A change's position is its log sequence number (`updates.seq`). Sequence numbers are
//! taken at insert, not at commit, so with several writers (PostgreSQL) a larger one can
//! commit first. A reader therefore only ever receives positions at or below a *horizon*:
//! a position below which every row that will ever be committed already is. On SQLite
//! (one writer) the horizon is simply the newest row; on PostgreSQL it is the sequence's
//! value read before a snapshot whose in-flight transactions have all ended (see
//! docs/change-feed.md). So "everything after the last position I saw" never skips a row
//! that committed late, and the log's commit path gains no write.

use chrono::{DateTime, Utc};

/// Which documents a feed reader follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedFilter {
    /// Every document.
    All,
    /// One document, by name.
    Doc(String),
    /// Every document whose name starts with this.
    Prefix(String),
}

impl FeedFilter {
    /// Whether the filter admits a document name.
    pub fn admits(&self, doc: &str) -> bool {
        match self {
            FeedFilter::All => true,
            FeedFilter::Doc(name) => name == doc,
            FeedFilter::Prefix(prefix) => doc.starts_with(prefix.as_str()),
        }
    }
}

/// One committed update of the log.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub doc: String,
    pub doc_id: i64,
    /// The change's position in the feed (its log sequence number).
    pub position: i64,
    /// When it was committed (the row's `created_at`).
    pub at: DateTime<Utc>,
    /// The Yjs update (v1 encoding).
    pub data: Vec<u8>,
    /// Who sent it, when the server knew (the row's `author`).
    pub author: Option<String>,
}

/// A document whose changes up to `upto` were folded into its snapshot by compaction: a
/// reader that had not seen them all must start that document again from its state.
#[derive(Debug, Clone)]
pub struct Compacted {
    pub doc: String,
    pub doc_id: i64,
    /// The snapshot covers every change of the document at or below this position.
    pub upto: i64,
    pub at: DateTime<Utc>,
}

/// One entry of a [`ChangePage`], in position order.
#[derive(Debug, Clone)]
pub enum FeedItem {
    Change(ChangeRow),
    Compacted(Compacted),
}

impl FeedItem {
    pub fn position(&self) -> i64 {
        match self {
            FeedItem::Change(c) => c.position,
            FeedItem::Compacted(c) => c.upto,
        }
    }

    pub fn doc(&self) -> &str {
        match self {
            FeedItem::Change(c) => &c.doc,
            FeedItem::Compacted(c) => &c.doc,
        }
    }
}

/// What [`Store::changes_after`](crate::Store::changes_after) answers.
#[derive(Debug, Clone, Default)]
pub struct ChangePage {
    /// Changes and compactions in position order.
    pub items: Vec<FeedItem>,
    /// Where to ask next: every change at or below it that the filter admits is in
    /// `items` or in an earlier page. Past the last item when the page reached the horizon
    /// (positions without a matching change were skipped), never behind `after`.
    pub next: i64,
}
