//! What every room shares: the store, the writer, the unwritten-bytes budget and the
//! timing and size policy taken from the server configuration.

use std::{sync::Arc, time::Duration};

use tandem_persistence::Store;

use super::commit::Budget;
use crate::{client_limits::ClientLimits, cluster::Cluster, config::ServeConfig, writer::Writer};

/// Timing and size policy for rooms, from the server configuration.
#[derive(Debug, Clone)]
pub(crate) struct RoomSettings {
    pub outbound_queue: usize,
    pub unload_grace: Duration,
    pub compact_updates: u64,
    pub compact_bytes: u64,
    pub version_idle: Duration,
    pub version_interval: Duration,
    /// How many automatic versions are kept (`retention.rs`).
    pub retention: crate::config::RetentionArgs,
    pub max_unwritten_bytes: usize,
    pub awareness_timeout: Duration,
    /// Awareness client ids one peer may own (see `presence`).
    pub max_awareness_clients: usize,
    /// Document messages per second one peer may send (bursts of ten seconds' worth).
    pub max_updates_per_sec: u32,
    /// Awareness messages per second one peer may send; more are dropped.
    pub max_awareness_per_sec: u32,
    /// Largest document (encoded state plus updates since); 0: no limit.
    pub max_document_bytes: usize,
    /// Largest amount of structs held back for missing dependencies, per document.
    pub max_pending_bytes: usize,
    /// CPU time per second the work of one client may take (by address and by token);
    /// zero: no limit (see `apply_budget`).
    pub max_apply_per_client: Duration,
    /// CPU time per second applying updates to one document may take; zero: no limit.
    pub max_apply_per_document: Duration,
    /// Shortest time between two named versions of one document.
    pub named_version_interval: Duration,
    /// Handler time after which a room lets its worker run other tasks (`slice`); zero:
    /// only when tokio's budget says so.
    pub room_slice: Duration,
    /// Tests only: the document whose room panics on a message of type 0x7f.
    pub test_panic_doc: Option<String>,
    /// Where rich text is (see `render::Fields`).
    pub rich_fields: crate::render::Fields,
}

impl RoomSettings {
    pub(crate) fn from_config(config: &ServeConfig) -> RoomSettings {
        RoomSettings {
            outbound_queue: config.outbound_queue,
            unload_grace: Duration::from_secs(config.unload_grace_secs),
            compact_updates: config.compact_updates.max(1),
            compact_bytes: config.compact_bytes.max(1),
            version_idle: Duration::from_secs(config.version_idle_secs),
            version_interval: Duration::from_secs(config.version_interval_secs),
            retention: config.retention,
            max_unwritten_bytes: config.max_unwritten_bytes,
            awareness_timeout: Duration::from_secs(config.awareness_timeout_secs.max(1)),
            max_awareness_clients: config.max_awareness_clients.max(1),
            max_updates_per_sec: config.max_updates_per_sec,
            max_awareness_per_sec: config.max_awareness_per_sec,
            max_document_bytes: config.max_document_bytes,
            max_pending_bytes: config.max_pending_bytes,
            max_apply_per_client: Duration::from_millis(config.max_apply_ms_per_sec.into()),
            max_apply_per_document: Duration::from_millis(
                config.max_document_apply_ms_per_sec.into(),
            ),
            named_version_interval: Duration::from_secs(config.named_version_interval_secs),
            room_slice: Duration::from_micros(config.room_slice_us),
            test_panic_doc: config.test_panic_doc.clone(),
            rich_fields: crate::render::Fields::new(config.rich_text_fields.clone()),
        }
    }
}

/// What every room shares.
pub(crate) struct RoomContext {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub settings: RoomSettings,
    /// The bus to the other instances, in cluster mode.
    pub cluster: Option<Arc<Cluster>>,
    /// Bytes accepted from clients but not yet committed, across all rooms.
    pub(crate) budget: Budget,
    /// Who has which document open; rooms report their weight here and ask it whether a
    /// client's update fits its memory limit.
    /// (Its `usage` also keeps what the work of each client has cost lately, over all
    /// rooms: the apply-time budget's accounts.)
    pub(crate) client_limits: Arc<ClientLimits>,
}

impl RoomContext {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        writer: Writer,
        settings: RoomSettings,
        cluster: Option<Arc<Cluster>>,
        client_limits: Arc<ClientLimits>,
    ) -> RoomContext {
        RoomContext {
            client_limits,
            budget: Budget::new(settings.max_unwritten_bytes),
            store,
            writer,
            settings,
            cluster,
        }
    }
}
