//! Version retention: deleting automatic versions past the configured count or age
//! (`config/retention.rs`). A document is pruned right after it gets a new automatic
//! version, and every document once an hour, so documents nobody edits any more age out
//! too. Failures are logged and retried next time: pruning is never urgent.

use std::sync::Arc;

use tandem_persistence::Store;

use crate::{config::RetentionArgs, metric_names as m};

/// Prunes one document's automatic versions (after one was made).
pub(crate) async fn prune_document(store: &Arc<dyn Store>, name: &str, keep: &RetentionArgs) {
    if !keep.prunes() {
        return;
    }
    match store
        .prune_versions(Some(name), &keep.at(chrono::Utc::now()))
        .await
    {
        Ok(removed) => counted(removed),
        Err(err) => tracing::warn!(doc = %name, error = %err, "pruning old versions failed"),
    }
}

/// Prunes every document now and then every `every`, for as long as the server runs.
pub(crate) fn spawn_sweep(store: Arc<dyn Store>, keep: RetentionArgs, every: std::time::Duration) {
    if !keep.prunes() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match store
                .prune_versions(None, &keep.at(chrono::Utc::now()))
                .await
            {
                Ok(removed) => {
                    counted(removed);
                    if removed > 0 {
                        tracing::info!(removed, "pruned old automatic versions");
                    }
                }
                Err(err) => tracing::warn!(error = %err, "pruning old versions failed"),
            }
        }
    });
}

fn counted(removed: u64) {
    metrics::counter!(m::VERSIONS_PRUNED).increment(removed);
}
