//! Peers that read slower than the room writes: a stalled one is disconnected, while a burst
//! from a slow commit does not cost fast peers their connection.

use std::time::Duration;

use crate::kit::*;

/// A peer that does not read is disconnected once its queue fills; the writer and the
/// room are not slowed down or blocked by it.
#[tokio::test]
async fn slow_peer_is_disconnected() {
    let server = start(&["--outbound-queue", "16"]).await;
    let mut slow = Client::connect(&server.ws("slow")).await;
    let mut fast = Client::connect(&server.ws("slow")).await;
    let chunk = "x".repeat(64 * 1024);
    // Enough to fill the kernel's socket buffers and then the 16 queued frames; stop as soon
    // as the server has cut the slow peer off (checked every 10 chunks), since pushing the
    // rest through only costs time.
    for i in 0..200 {
        fast.append(&chunk).await;
        // Wait for the echo, so only the slow peer's queue can fill.
        fast.pump_until(|c| c.received_updates > i, WAIT).await;
        if i % 10 == 9 && server.metric("tandem_slow_client_disconnects_total").await >= 1.0 {
            break;
        }
    }
    // Now read: the server must have closed the slow peer with 1013, and counted it.
    let (code, reason) = slow.closed_with(Duration::from_secs(30)).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
    assert_eq!(
        server.metric("tandem_slow_client_disconnects_total").await,
        1.0
    );
}

/// Everything typed during one slow commit is relayed when it commits. One frame per
/// update would overflow a 16-message queue and disconnect even peers that keep up.
#[tokio::test]
async fn burst_from_a_slow_commit_keeps_fast_peers_connected() {
    let server = start(&["--outbound-queue", "16"]).await;
    let mut typist = Client::connect(&server.ws("burst")).await;
    let mut reader = Client::connect(&server.ws("burst")).await;
    let merged = server.metric("tandem_update_bursts_merged_total").await;
    // The database is busy: the first commit waits until every update below has arrived.
    let lock = SqliteWriteLock::take(&server.sqlite_path()).await;
    const N: usize = 100;
    for i in 0..N {
        typist.append(&format!("<{i}>")).await;
    }
    // Awareness is relayed at once: when the reader has it, the room has taken in every
    // update sent before it, and relayed none of them uncommitted.
    typist.set_awareness(r#"{"user":{"name":"typist"}}"#).await;
    let tid = typist.client_id();
    reader
        .pump_until(|c| c.peers.contains_key(&tid), WAIT)
        .await;
    assert_eq!(reader.received_updates, 0, "relayed before the commit");
    lock.release().await;

    let expected: String = (0..N).map(|i| format!("<{i}>")).collect();
    reader.pump_until(|c| c.text() == expected, WAIT).await;
    typist
        .pump_until(|c| c.text() == expected && c.received_updates > 0, WAIT)
        .await;
    assert!(reader.closed.is_none() && typist.closed.is_none());
    // The first update's commit, then the other 99 merged into one frame.
    assert!(
        reader.received_updates <= 2,
        "expected the burst merged, got {} frames",
        reader.received_updates
    );
    assert_eq!(
        server.metric("tandem_update_bursts_merged_total").await,
        merged + 1.0
    );

    // Both are still in the room: an edit after the burst travels as usual.
    reader.append("!").await;
    typist
        .pump_until(|c| c.text() == format!("{expected}!"), WAIT)
        .await;
}
