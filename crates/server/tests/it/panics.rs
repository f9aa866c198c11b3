//! Panic isolation: a panic while handling one document ends that document's room only.
//! Its clients are closed with 1011 and reconnect to a fresh room loaded from the
//! database; other documents never notice. The panic comes from a test-only setting that
//! makes one document's room panic on a message of type 0x7f.

use crate::kit::*;

#[tokio::test]
async fn a_panicking_room_ends_alone_and_its_document_reloads_intact() {
    let server = start(&["--test-panic-doc", "boom"]).await;
    let mut a = Client::connect(&server.ws("boom")).await;
    let mut b = Client::connect(&server.ws("boom")).await;
    let mut calm = Client::connect(&server.ws("calm")).await;
    a.append("kept").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    b.pump_until(|c| c.text() == "kept", WAIT).await;
    calm.append("calm").await;
    calm.pump_until(|c| c.received_updates >= 1, WAIT).await;

    // Message type 0x7f with an empty payload: the trigger.
    a.send_raw(vec![0x7f, 0]).await;
    for client in [&mut a, &mut b] {
        let (code, reason) = client.closed_with(WAIT).await;
        assert_eq!(code, 1011, "{reason}");
        assert!(reason.contains("internal error"), "{reason}");
    }
    assert_eq!(server.metric("tandem_room_panics_total").await, 1.0);

    // The other document carries on, same connection.
    let echoes = calm.received_updates;
    calm.append("!").await;
    calm.pump_until(|c| c.received_updates > echoes, WAIT).await;
    assert!(calm.closed.is_none());
    assert_eq!(get_text(&server, "calm").await, "calm!");

    // The panicking document comes back from the database, and works.
    let mut again = Client::connect(&server.ws("boom")).await;
    assert_eq!(again.text(), "kept");
    again.append(" and more").await;
    again.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert_eq!(get_text(&server, "boom").await, "kept and more");
}
