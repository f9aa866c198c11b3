use chrono::{DateTime, Utc};
use serde::Serialize;

/// Everything needed to rebuild a document in memory: apply `snapshot` (if any), then
/// every update in `updates`. Yjs updates commute, so their order only matters for speed.
#[derive(Debug, Default, Clone)]
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    pub updates: Vec<Vec<u8>>,
    /// Highest sequence number covered by the snapshot and the updates (0 when empty).
    pub last_seq: i64,
}

/// One update to append to a document's log.
#[derive(Debug, Clone)]
pub struct AppendItem {
    pub doc: String,
    pub data: Vec<u8>,
}

/// Highest sequence number written for one document in an append batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub doc: String,
    pub last_seq: i64,
}

/// A compacted state that replaces every logged update with `seq <= upto_seq`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: Vec<u8>,
    pub state_vector: Vec<u8>,
    pub upto_seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone)]
pub struct NewVersion {
    pub kind: VersionKind,
    pub label: Option<String>,
    pub state: Vec<u8>,
    pub state_vector: Vec<u8>,
    /// Plain-text rendering, kept so history is readable with SQL alone.
    pub text: String,
    /// Who edited since the previous version, sorted and without duplicates.
    pub authors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub kind: VersionKind,
    pub label: Option<String>,
    pub size_bytes: i64,
    pub text_length: i64,
    pub authors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    #[serde(flatten)]
    pub info: VersionInfo,
    pub text: String,
    #[serde(skip)]
    pub state: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentInfo {
    pub name: String,
    /// Free text for people; empty when never set (show the name then).
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub size_bytes: i64,
}

/// What a compaction did, for logs and metrics.
#[derive(Debug, Clone, Default)]
pub struct CompactStats {
    pub updates_removed: u64,
    pub bytes_removed: i64,
}
