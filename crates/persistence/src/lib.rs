//! Durable storage for Tandem documents.
//!
//! A document is stored as an append-only log of Yjs updates plus, from time to time, a
//! compacted snapshot that replaces the updates it covers. History lives apart from both in
//! `versions`, which compaction never touches. The same [`Store`] interface is implemented
//! for SQLite (the embedded default) and PostgreSQL; the server picks one from the database
//! URL with [`open`].
//!
//! The store knows nothing about Yjs: it moves opaque bytes. Merging updates, rendering
//! text and deciding *when* to compact or take a version is the server's business.

pub mod copy;
mod durability;
mod error;
mod feed;
mod integrity;
mod links;
mod migrations;
mod store;
mod types;
mod webhooks;

pub use durability::{Durability, UnknownDurability};
pub use error::StoreError;
pub use feed::{ChangePage, ChangeRow, Compacted, FeedFilter, FeedItem};
pub use integrity::{LogRows, Repair, SnapshotRow, VersionRetention};
pub use links::{LinkStore, ShareLink};
pub use store::{open, open_with, postgres::PostgresStore, sqlite::SqliteStore, Store};
pub use types::*;
pub use webhooks::{Attempt, DocWork, Endpoint, Message, NewEndpoint, WebhookStore};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
