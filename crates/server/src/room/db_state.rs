//! The document as the database holds it, for compaction and versions in cluster mode.
//!
//! In cluster mode a room's memory also holds what it took from the bus. The bus is a hint:
//! a frame signed with the cluster key should carry only committed updates, but if one
//! did not (a leaked key, a bug), a snapshot or version made from memory would write
//! content to the database that no client committed, and a compaction would delete the
//! rows it claims to cover. So a clustered room compacts and takes versions from a fresh
//! replay of the database instead: a snapshot can then only hold what the database has.
//! Single instances keep using their memory, where every update came through their own
//! checks and writer.

use std::sync::Arc;

use tandem_persistence::{NewVersion, Snapshot, Store, StoreError, VersionKind};
use yrs::{updates::encoder::Encode, Doc, ReadTxn, StateVector, Transact};

use crate::{
    render::{Content, Fields},
    text,
};

/// The stored document replayed into a fresh `Doc`, and the sequence number it covers;
/// `None` when the document is not stored.
async fn replayed(store: &Arc<dyn Store>, name: &str) -> Result<Option<(Doc, i64)>, StoreError> {
    let Some(stored) = store.load(name).await? else {
        return Ok(None);
    };
    let name = name.to_string();
    // Replaying is CPU work the size of the document: off the async workers.
    let replay = tokio::task::spawn_blocking(move || {
        let doc = text::new_doc();
        for err in text::replay(&doc, &stored) {
            tracing::error!(doc = %name, error = %err, "stored update skipped");
        }
        (doc, stored.last_seq)
    });
    Ok(replay.await.ok())
}

/// A snapshot of exactly what the database holds.
pub(super) async fn snapshot(
    store: &Arc<dyn Store>,
    name: &str,
) -> Result<Option<Snapshot>, StoreError> {
    Ok(replayed(store, name).await?.map(|(doc, upto_seq)| {
        let txn = doc.transact();
        Snapshot {
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            upto_seq,
        }
    }))
}

/// A version of exactly what the database holds.
pub(super) async fn version(
    store: &Arc<dyn Store>,
    name: &str,
    fields: &Fields,
    kind: VersionKind,
    label: Option<String>,
    authors: Vec<String>,
) -> Result<Option<NewVersion>, StoreError> {
    Ok(replayed(store, name).await?.map(|(doc, _)| {
        let txn = doc.transact();
        let content = Content::from_txn(&txn, fields);
        NewVersion {
            kind,
            label,
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            text: content.plain_text(),
            format: content.kind(),
            authors,
        }
    }))
}
