use chrono::{DateTime, Utc};
use serde::Serialize;

/// Everything needed to rebuild a document in memory: apply `snapshot` (if any), then
/// every update in `updates`. Yjs updates commute, so their order only matters for speed.
#[derive(Debug, Default, Clone)]
pub struct StoredDoc {
    /// The document's row id. An append that names it never creates the document again
    /// (see [`AppendItem::doc_id`]).
    pub id: i64,
    pub snapshot: Option<Vec<u8>>,
    pub updates: Vec<Vec<u8>>,
    /// Highest sequence number covered by the snapshot and the updates (0 when empty).
    pub last_seq: i64,
}

/// One update to append to a document's log.
#[derive(Debug, Clone)]
pub struct AppendItem {
    pub doc: String,
    /// The document's id when the writer knows it (it loaded or created the document).
    /// Then the append never creates it: if the row is gone, someone deleted the document
    /// (on another instance, say) and the append reports it as [`Appended::gone`] instead
    /// of writing it back. `None` creates the document if it does not exist.
    pub doc_id: Option<i64>,
    pub data: Vec<u8>,
    /// Who sent it, when known (the `author` column of its log row).
    pub author: Option<String>,
}

/// What an append did to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub doc: String,
    /// The document's id (0 when `gone`).
    pub id: i64,
    /// The document's `last_seq` before this append. Appends to one document commit in
    /// sequence order, so a writer that had applied everything up to `prev_seq` has now
    /// applied everything up to `last_seq`; otherwise someone else appended in between.
    pub prev_seq: i64,
    /// Highest sequence number written for the document.
    pub last_seq: i64,
    /// The document named by [`AppendItem::doc_id`] no longer exists; nothing was written.
    pub gone: bool,
}

/// A compacted state that replaces every logged update with `seq <= upto_seq`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: Vec<u8>,
    pub state_vector: Vec<u8>,
    pub upto_seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    /// Taken by the server when editing pauses, or periodically during long sessions.
    Auto,
    /// Asked for by a user, with a label.
    Named,
    /// The state right after an older version was restored.
    Restore,
}

impl VersionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionKind::Auto => "auto",
            VersionKind::Named => "named",
            VersionKind::Restore => "restore",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(VersionKind::Auto),
            "named" => Some(VersionKind::Named),
            "restore" => Some(VersionKind::Restore),
            _ => None,
        }
    }
}

/// What a document holds: plain text (a `Y.Text`, what the built-in editor edits) or rich
/// text (a `Y.XmlFragment`, what ProseMirror and Tiptap edit). Stored with the document so
/// an empty rich document is known as one, and with each version.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    #[default]
    Text,
    Rich,
}

impl ContentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Text => "text",
            ContentKind::Rich => "rich",
        }
    }

    /// The stored value; the CHECK constraint admits only the two known ones.
    pub fn parse(s: &str) -> Self {
        if s == "rich" {
            ContentKind::Rich
        } else {
            ContentKind::Text
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewVersion {
    pub kind: VersionKind,
    pub label: Option<String>,
    pub state: Vec<u8>,
    pub state_vector: Vec<u8>,
    /// Plain-text rendering, kept so history is readable with SQL alone.
    pub text: String,
    /// The model `text` was rendered from; `None` for an empty document (the version then
    /// takes the document's kind, and the document's kind stays as it is).
    pub format: Option<ContentKind>,
    /// Who edited since the previous version, sorted and without duplicates.
    pub authors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub kind: VersionKind,
    pub label: Option<String>,
    pub size_bytes: i64,
    pub text_length: i64,
    pub authors: Vec<String>,
    /// The model the version's text was rendered from.
    pub format: ContentKind,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Version {
    #[serde(flatten)]
    pub info: VersionInfo,
    pub text: String,
    #[serde(skip)]
    pub state: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentInfo {
    /// The document's identity: its row's id, never reused, so a document deleted and made
    /// again under the same name is another document (a client holding a copy of the old
    /// one is told so instead of writing it into the new one). `None` for a document that
    /// is open but not stored yet.
    pub id: Option<i64>,
    pub name: String,
    /// Free text for people; empty when never set (show the name then).
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub size_bytes: i64,
    /// What the document holds, as stored (see [`ContentKind`]).
    pub kind: ContentKind,
}

/// What a compaction did, for logs and metrics.
#[derive(Debug, Clone, Default)]
pub struct CompactStats {
    pub updates_removed: u64,
    pub bytes_removed: i64,
    /// Nothing was done: another writer was compacting the document (PostgreSQL), or the
    /// document no longer exists.
    pub skipped: bool,
}
