//! Metric names and their descriptions, in one place so dashboards have one list to read.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

pub(crate) const CONNECTIONS: &str = "tandem_connections";
pub(crate) const CONNECTIONS_TOTAL: &str = "tandem_connections_opened_total";
pub(crate) const DOCUMENTS_LOADED: &str = "tandem_documents_loaded";
pub(crate) const UPDATES_RECEIVED: &str = "tandem_updates_received_total";
pub(crate) const UPDATES_RELAYED: &str = "tandem_updates_relayed_total";
pub(crate) const UPDATES_PERSISTED: &str = "tandem_updates_persisted_total";
pub(crate) const BYTES_IN: &str = "tandem_bytes_in_total";
pub(crate) const BYTES_OUT: &str = "tandem_bytes_out_total";
pub(crate) const PERSIST_SECONDS: &str = "tandem_persist_seconds";
pub(crate) const WRITE_QUEUE_SECONDS: &str = "tandem_write_queue_seconds";
pub(crate) const QUEUE_DROPS: &str = "tandem_slow_client_disconnects_total";
pub(crate) const DB_ERRORS: &str = "tandem_database_errors_total";
pub(crate) const UNKNOWN_MESSAGES: &str = "tandem_unknown_messages_total";
pub(crate) const BAD_MESSAGES: &str = "tandem_invalid_messages_total";
pub(crate) const AUTH_REFUSED: &str = "tandem_auth_refusals_total";
pub(crate) const UNWRITTEN_BYTES: &str = "tandem_unwritten_bytes";
pub(crate) const COMPACTIONS: &str = "tandem_compactions_total";
pub(crate) const VERSIONS: &str = "tandem_versions_created_total";
pub(crate) const VERSIONS_PRUNED: &str = "tandem_versions_pruned_total";
pub(crate) const AWARENESS_REFUSED: &str = "tandem_awareness_refused_total";
pub(crate) const LIMIT_REFUSALS: &str = "tandem_limit_refusals_total";
/// Requests refused by a check on the request itself (type, body, path, origin), by reason.
pub(crate) const REFUSALS: &str = "tandem_request_refusals_total";
pub(crate) const ROOM_PANICS: &str = "tandem_room_panics_total";
/// Large updates and loads run off the runtime's workers (`room::heavy`).
pub(crate) const HEAVY_WORK: &str = "tandem_heavy_work_total";
/// Log lines dropped by the per-call-site rate limit (`log_limit`).
pub(crate) const LOG_SUPPRESSED: &str = "tandem_log_lines_suppressed_total";
/// Estimated memory of the loaded documents (`room::weight`).
pub(crate) const DOCUMENT_MEMORY: &str = "tandem_document_memory_bytes";
pub(crate) const BURSTS_MERGED: &str = "tandem_update_bursts_merged_total";
/// Updates held back because they build on changes the room does not have yet.
pub(crate) const UPDATES_HELD: &str = "tandem_updates_held_total";
/// Bytes of such updates waiting, across documents.
pub(crate) const HELD_BYTES: &str = "tandem_held_update_bytes";
/// Transactions the database failed to break a deadlock (should stay 0: rows lock in order).
pub(crate) const DB_DEADLOCKS: &str = "tandem_db_deadlocks_total";
// Cluster mode (see `cluster`).
pub(crate) const BUS_PUBLISHED: &str = "tandem_bus_published_total";
pub(crate) const BUS_RECEIVED: &str = "tandem_bus_received_total";
pub(crate) const BUS_DUPLICATES: &str = "tandem_bus_duplicates_total";
pub(crate) const BUS_DROPPED: &str = "tandem_bus_dropped_total";
pub(crate) const BUS_GAPS: &str = "tandem_bus_gaps_total";
pub(crate) const BUS_REJECTED: &str = "tandem_bus_frames_rejected_total";
pub(crate) const BUS_CONFLICTS: &str = "tandem_bus_conflicts_total";
pub(crate) const CATCH_UPS: &str = "tandem_catchups_total";
pub(crate) const BUS_RECONNECTS: &str = "tandem_bus_reconnects_total";
pub(crate) const BUS_CONNECTED: &str = "tandem_bus_connected";
pub(crate) const BUS_LAG_SECONDS: &str = "tandem_bus_lag_seconds";
/// Open TCP connections, upgraded WebSockets and sockets closing included.
pub(crate) const TCP_CONNECTIONS: &str = "tandem_tcp_connections";
/// Failed accepts (out of file descriptors, say), after each of which the loop backs off.
pub(crate) const ACCEPT_ERRORS: &str = "tandem_accept_errors_total";
/// Bytes of WebSocket messages over 64 KiB being received, in total (`receiving`).
pub(crate) const RECEIVING_BYTES: &str = "tandem_receiving_bytes";
/// Big WebSocket messages that waited, unread, for their address's or the total budget.
pub(crate) const RECEIVING_WAITS: &str = "tandem_receiving_waits_total";
/// Webhook delivery attempts, by outcome (`webhooks`).
pub(crate) const WEBHOOK_DELIVERIES: &str = "tandem_webhook_deliveries_total";
pub(crate) const WEBHOOK_SECONDS: &str = "tandem_webhook_delivery_seconds";

pub(crate) fn describe() {
    describe_gauge!(CONNECTIONS, "Open client connections, by transport");
    describe_counter!(CONNECTIONS_TOTAL, "Client connections opened, by transport");
    describe_gauge!(DOCUMENTS_LOADED, "Documents loaded in memory");
    describe_counter!(UPDATES_RECEIVED, "Document updates received from clients");
    describe_counter!(UPDATES_RELAYED, "Document updates delivered to peers");
    describe_counter!(UPDATES_PERSISTED, "Document updates committed to the log");
    describe_counter!(
        BYTES_IN,
        Unit::Bytes,
        "Protocol bytes received, by transport"
    );
    describe_counter!(BYTES_OUT, Unit::Bytes, "Protocol bytes queued to clients");
    describe_histogram!(
        PERSIST_SECONDS,
        Unit::Seconds,
        "Latency of one group commit"
    );
    describe_histogram!(
        WRITE_QUEUE_SECONDS,
        Unit::Seconds,
        "Time a room's batch waited for the writer before its commit started"
    );
    describe_counter!(
        QUEUE_DROPS,
        "Peers disconnected because their outbound queue was full"
    );
    describe_counter!(DB_ERRORS, "Failed database operations");
    describe_counter!(UNKNOWN_MESSAGES, "Messages of unknown type skipped");
    describe_counter!(
        BAD_MESSAGES,
        "Connections closed for malformed input, by reason"
    );
    describe_counter!(
        AUTH_REFUSED,
        "Requests refused by access control, by reason"
    );
    describe_gauge!(
        UNWRITTEN_BYTES,
        Unit::Bytes,
        "Accepted update bytes not yet in the database"
    );
    describe_counter!(COMPACTIONS, "Log compactions into a snapshot");
    describe_counter!(VERSIONS, "History versions created, by kind");
    describe_counter!(
        VERSIONS_PRUNED,
        "Automatic versions deleted by retention (TANDEM_KEEP_VERSIONS_*)"
    );
    describe_counter!(
        AWARENESS_REFUSED,
        "Awareness entries dropped: another peer's client id, too many ids, by reason"
    );
    describe_counter!(
        LIMIT_REFUSALS,
        "Messages and requests refused by a limit (rate, size, count), by limit"
    );
    describe_counter!(
        REFUSALS,
        "Requests refused by a check on the request itself (type, body, path, origin), by reason"
    );
    describe_counter!(
        HEAVY_WORK,
        "Large updates and loads run off the runtime's worker threads, one at a time"
    );
    describe_counter!(
        LOG_SUPPRESSED,
        "Log lines dropped by the per-call-site rate limit (TANDEM_LOG_LINES_PER_SEC)"
    );
    describe_gauge!(
        DOCUMENT_MEMORY,
        Unit::Bytes,
        "Estimated memory of the loaded documents (encoded bytes plus a cost per Yjs struct)"
    );
    describe_counter!(
        ROOM_PANICS,
        "Document rooms ended by a panic (their clients reconnect to a fresh copy)"
    );
    describe_counter!(
        BURSTS_MERGED,
        "Commits whose many updates were relayed as one merged update"
    );
    describe_counter!(
        UPDATES_HELD,
        "Updates held back until the changes they build on arrive"
    );
    describe_gauge!(
        TCP_CONNECTIONS,
        "Open TCP connections (WebSockets and closing sockets included)"
    );
    describe_counter!(
        ACCEPT_ERRORS,
        "Failed accepts, such as running out of file descriptors; each backs the loop off"
    );
    describe_gauge!(
        RECEIVING_BYTES,
        Unit::Bytes,
        "Bytes of WebSocket messages over 64 KiB being received (frames whose header arrived)"
    );
    describe_counter!(
        RECEIVING_WAITS,
        "WebSocket messages over 64 KiB that waited unread for the receiving budget"
    );
    describe_gauge!(
        HELD_BYTES,
        Unit::Bytes,
        "Bytes of updates waiting for the changes they build on"
    );
    describe_counter!(
        DB_DEADLOCKS,
        "Appends the database aborted to break a deadlock"
    );
    describe_counter!(
        BUS_PUBLISHED,
        "Cluster bus messages published, or dropped unsent, by outcome"
    );
    describe_counter!(BUS_RECEIVED, "Cluster bus messages received");
    describe_counter!(
        BUS_DUPLICATES,
        "Bus commits already applied (from the database or a repeat)"
    );
    describe_counter!(
        BUS_DROPPED,
        "Bus messages dropped on purpose (--test-bus-drop-percent) or unreadable"
    );
    describe_counter!(
        BUS_GAPS,
        "Bus commits that did not follow what the room had applied"
    );
    describe_counter!(
        BUS_REJECTED,
        "Cluster bus frames dropped before use, by reason: malformed, signature, stale, replay"
    );
    describe_counter!(
        BUS_CONFLICTS,
        "Rooms ended because what they applied from the bus disagreed with the database"
    );
    describe_counter!(CATCH_UPS, "Reads of missed commits from the database");
    describe_counter!(BUS_RECONNECTS, "Reconnections to the cluster bus");
    describe_gauge!(BUS_CONNECTED, "1 while connected to the cluster bus");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts: delivered (2xx), failed (retried), gone (410: endpoint disabled), expired (given up)"
    );
    describe_histogram!(
        WEBHOOK_SECONDS,
        Unit::Seconds,
        "Duration of one webhook delivery attempt"
    );
    describe_histogram!(
        BUS_LAG_SECONDS,
        Unit::Seconds,
        "Time from publishing a bus message to receiving it"
    );
}

/// Label values each labelled family can take; registered at start so that every series a
/// dashboard queries exists (at zero) on a fresh server.
const TRANSPORTS: [&str; 4] = ["websocket", "hocuspocus", "sse", "poll"];
const BAD_MESSAGE_REASONS: [&str; 4] = ["text_frame", "too_big", "undecodable", "bad_update"];
const AUTH_REASONS: [&str; 7] = [
    "missing",
    "invalid",
    "expired",
    "wrong_document",
    "read_only",
    "admin_required",
    "share_denied",
];
const VERSION_KINDS: [&str; 3] = ["auto", "named", "restore"];
const WEBHOOK_OUTCOMES: [&str; 4] = ["delivered", "failed", "gone", "expired"];

/// Creates every family at zero. Prometheus shows nothing for a series never touched,
/// which breaks dashboards and alerts (`rate()` of a missing series) until the first event.
pub(crate) fn register_zeroes() {
    for t in TRANSPORTS {
        gauge!(CONNECTIONS, "transport" => t).increment(0.0);
        counter!(CONNECTIONS_TOTAL, "transport" => t).increment(0);
        counter!(BYTES_IN, "transport" => t).increment(0);
    }
    gauge!(DOCUMENTS_LOADED).increment(0.0);
    gauge!(UNWRITTEN_BYTES).increment(0.0);
    gauge!(DOCUMENT_MEMORY).increment(0.0);
    gauge!(HELD_BYTES).increment(0.0);
    gauge!(BUS_CONNECTED).increment(0.0);
    for outcome in ["sent", "dropped"] {
        counter!(BUS_PUBLISHED, "outcome" => outcome).increment(0);
    }
    for reason in ["malformed", "signature", "stale", "replay"] {
        counter!(BUS_REJECTED, "reason" => reason).increment(0);
    }
    gauge!(TCP_CONNECTIONS).increment(0.0);
    gauge!(RECEIVING_BYTES).increment(0.0);
    for name in [
        RECEIVING_WAITS,
        UPDATES_RECEIVED,
        UPDATES_RELAYED,
        UPDATES_PERSISTED,
        BYTES_OUT,
        QUEUE_DROPS,
        DB_ERRORS,
        UNKNOWN_MESSAGES,
        COMPACTIONS,
        BURSTS_MERGED,
        ROOM_PANICS,
        HEAVY_WORK,
        LOG_SUPPRESSED,
        // Labelled by reasons that grow with the code: the family shows, unlabelled, at zero.
        AWARENESS_REFUSED,
        LIMIT_REFUSALS,
        REFUSALS,
        UPDATES_HELD,
        DB_DEADLOCKS,
        BUS_RECEIVED,
        BUS_DUPLICATES,
        BUS_DROPPED,
        BUS_GAPS,
        BUS_CONFLICTS,
        CATCH_UPS,
        BUS_RECONNECTS,
        ACCEPT_ERRORS,
    ] {
        counter!(name).increment(0);
    }
    for r in BAD_MESSAGE_REASONS {
        counter!(BAD_MESSAGES, "reason" => r).increment(0);
    }
    for r in AUTH_REASONS {
        counter!(AUTH_REFUSED, "reason" => r).increment(0);
    }
    for k in VERSION_KINDS {
        counter!(VERSIONS, "kind" => k).increment(0);
    }
    counter!(VERSIONS_PRUNED).increment(0);
    // Registering the histogram makes it render with empty buckets.
    let _ = histogram!(PERSIST_SECONDS);
    let _ = histogram!(WRITE_QUEUE_SECONDS);
    let _ = histogram!(BUS_LAG_SECONDS);
    for outcome in WEBHOOK_OUTCOMES {
        counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    let _ = histogram!(WEBHOOK_SECONDS);
}

#[cfg(test)]
mod tests {
    /// Every metric name declared in this file is on `/metrics` right after start-up, so a
    /// family added later cannot be forgotten in `register_zeroes`.
    #[test]
    fn every_family_is_registered_at_zero() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, super::register_zeroes);
        let text = handle.render();
        let names: Vec<&str> = include_str!("metric_names.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("pub(crate) const "))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert!(names.len() >= 20, "{names:?}");
        for name in names {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{name} is not registered at start-up"
            );
        }
    }
}
