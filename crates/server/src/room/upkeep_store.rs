//! The store calls of a room's upkeep: compacting the log and storing a version, each
//! from this copy's memory or, in cluster mode, from what the database holds. Both the
//! background work and writing out before unloading (`maintenance.rs`) use them.

use std::sync::Arc;

use tandem_persistence::{NewVersion, Snapshot, Store, StoreError, VersionInfo, VersionKind};
use yrs::{updates::decoder::Decode, StateVector};

use super::db_state;
use crate::{metric_names as m, render::Fields};

/// Compacts with `memory` (a single instance), or, in cluster mode, with a snapshot of
/// what the database holds (see `db_state`); returns whether it worked.
pub(super) async fn compact_what_is_stored(
    store: &Arc<dyn Store>,
    name: &str,
    clustered: bool,
    memory: Snapshot,
) -> bool {
    if !clustered {
        return compact(store, name, &memory).await;
    }
    match db_state::snapshot(store, name).await {
        Ok(Some(snapshot)) => compact(store, name, &snapshot).await,
        Ok(None) => false,
        Err(err) => {
            tracing::warn!(doc = %name, error = %err, "reading the document to compact it failed");
            false
        }
    }
}

/// `memory` (a single instance), or, in cluster mode, the same version made from what the
/// database holds (see `db_state`).
pub(super) async fn stored_material(
    store: &Arc<dyn Store>,
    name: &str,
    clustered: bool,
    fields: &Fields,
    memory: NewVersion,
) -> Result<NewVersion, StoreError> {
    if !clustered {
        return Ok(memory);
    }
    let NewVersion {
        kind,
        label,
        authors,
        ..
    } = memory;
    db_state::version(store, name, fields, kind, label, authors)
        .await?
        .ok_or_else(|| StoreError::NotFound(name.to_string()))
}

/// Replaces the log up to the snapshot; returns whether it worked.
async fn compact(store: &Arc<dyn Store>, name: &str, snapshot: &Snapshot) -> bool {
    match store.compact(name, snapshot).await {
        Ok(stats) => {
            metrics::counter!(m::COMPACTIONS).increment(1);
            tracing::debug!(doc = %name, removed = stats.updates_removed, "compacted");
            true
        }
        Err(err) => {
            tracing::warn!(doc = %name, error = %err, "compaction failed");
            false
        }
    }
}

/// Stores a version. An automatic one is skipped (`None`) when the latest version already
/// holds this state: with several instances holding the document, each one's timer fires.
/// A new automatic version may let an old one go (`keep`, `retention.rs`).
pub(super) async fn store_version(
    store: &Arc<dyn Store>,
    name: &str,
    material: &NewVersion,
    keep: &crate::config::RetentionArgs,
) -> Result<Option<VersionInfo>, StoreError> {
    // The state vector alone misses deletions, which add no clock; with the text they tell
    // the states apart (a state vector's bytes depend on hash order).
    let ours = StateVector::decode_v1(&material.state_vector).ok();
    let text = material.text.clone();
    let unchanged = move |sv: &[u8], latest_text: &str| {
        ours.is_some() && StateVector::decode_v1(sv).ok() == ours && latest_text == text
    };
    let result = match material.kind {
        VersionKind::Auto => store.create_auto_version(name, material, &unchanged).await,
        // Naming an unchanged document names its latest version instead of a second copy.
        VersionKind::Named => store
            .create_named_version(name, material, &unchanged)
            .await
            .map(Some),
        _ => store.create_version(name, material).await.map(Some),
    };
    if let Ok(Some(_)) = result {
        metrics::counter!(m::VERSIONS, "kind" => material.kind.as_str()).increment(1);
        if material.kind == VersionKind::Auto {
            crate::retention::prune_document(store, name, keep).await;
        }
    }
    result
}
