//! Server-sent events end to end: the handshake, relays and awareness in both directions
//! with a WebSocket peer, and resuming with `Last-Event-ID`.

use crate::kit::{peer::sees, *};

/// `<session>:<seq>` of a message event.
fn seq_of(event: &SseEvent, session: &str) -> u64 {
    let id = event.id.as_deref().expect("message events carry an id");
    let (s, seq) = id.split_once(':').expect("id is <session>:<seq>");
    assert_eq!(s, session, "event id names the session");
    seq.parse().expect("numeric sequence")
}

#[tokio::test]
async fn sse_handshake_relay_and_awareness() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("sse-a")).await;
    ws.append("before ").await;
    ws.pump_until(|c| c.received_updates >= 1, WAIT).await;

    let mut sse = SseClient::open(&server, "sse-a", None).await.unwrap();
    assert!(sse.step(WAIT).await, "no first event");
    let first = sse.events[0].clone();
    assert_eq!(first.event, "session", "{first:?}");
    assert_eq!(first.id, None, "the session event has no id");
    let session = sse.session.clone().unwrap();
    assert!(
        session.len() >= 16,
        "session id too short to be unguessable"
    );
    // Our step 1 was POSTed on the session event; the answer is step 2 with the text.
    sse.pump_until(|c| c.y.synced, WAIT).await;
    assert_eq!(sse.y.text(), "before ");
    // The server's own step 1 arrived too (and was answered with step 2).
    assert_eq!(sse.y.step1_count, 1);

    ws.append("from ws").await;
    sse.pump_until(|c| c.y.text() == "before from ws", WAIT)
        .await;

    sse.insert(0, "sse:").await;
    ws.pump_until(|c| c.text() == "sse:before from ws", WAIT)
        .await;
    // The SSE client's own edit is echoed back as its acknowledgement.
    let got = sse.y.received_updates;
    sse.pump_until(|c| c.y.received_updates > got, WAIT).await;

    sse.set_awareness(r#"{"user":{"name":"sse-user","color":"red"}}"#)
        .await;
    let sse_id = sse.y.client_id();
    ws.pump_until(|c| sees(&c.peers, sse_id, "sse-user"), WAIT)
        .await;
    ws.set_awareness(r#"{"user":{"name":"ws-user","color":"blue"}}"#)
        .await;
    let ws_id = ws.client_id();
    sse.pump_until(|c| sees(&c.y.peers, ws_id, "ws-user"), WAIT)
        .await;

    // Every message event is numbered within the session, strictly increasing.
    let seqs: Vec<u64> = sse
        .events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| seq_of(e, &session))
        .collect();
    assert!(seqs.len() >= 5, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(get_text(&server, "sse-a").await, "sse:before from ws");
}

#[tokio::test]
async fn sse_resumes_with_last_event_id() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("replay")).await;
    let mut sse = SseClient::connect(&server, "replay").await;
    ws.append("a").await;
    // Nothing the room sends comes after the relayed edit, so this is the last event.
    sse.pump_until(|c| c.y.text() == "a", WAIT).await;
    let session = sse.session.clone().unwrap();
    let last = sse.last_id.clone().unwrap();
    let last_seq = seq_of(sse.events.last().unwrap(), &session);

    sse.disconnect();
    let before = sse.y.received_updates;
    for i in 0..3 {
        ws.append(&format!("<{i}>")).await;
    }
    ws.pump_until(|c| c.received_updates >= 4, WAIT).await;

    sse.reconnect(Some(&last)).await.unwrap();
    // A marker sent after them: when it is in, anything replayed twice would be too.
    ws.append(".").await;
    sse.pump_until(|c| c.y.text().ends_with('.'), WAIT).await;
    assert!(
        sse.events.iter().all(|e| e.event == "message"),
        "no new session on resume: {:?}",
        sse.events
    );
    assert_eq!(sse.session.as_deref(), Some(session.as_str()));
    let seqs: Vec<u64> = sse.events.iter().map(|e| seq_of(e, &session)).collect();
    assert_eq!(
        seqs,
        vec![last_seq + 1, last_seq + 2, last_seq + 3, last_seq + 4],
        "exactly the missed messages, in order, then the marker"
    );
    assert_eq!(sse.y.received_updates, before + 4, "no duplicates");
    assert_eq!(sse.y.text(), ws.text());
    assert_eq!(sse.y.text(), "a<0><1><2>.");

    // The resumed session still works upstream.
    sse.append("!").await;
    ws.pump_until(|c| c.text() == "a<0><1><2>.!", WAIT).await;

    // An id the server does not know: a new session and a fresh sync.
    ws.append("?").await;
    ws.pump_until(|c| c.text() == "a<0><1><2>.!?", WAIT).await;
    for stale in [
        "0123456789abcdef0123456789abcdef:3".to_string(),
        format!("{session}:999999"),
        "garbage".to_string(),
    ] {
        sse.y.synced = false;
        sse.reconnect(Some(&stale)).await.unwrap();
        sse.pump_until(|c| c.y.synced, WAIT).await;
        assert_eq!(sse.events[0].event, "session", "{stale}: {:?}", sse.events);
        assert_ne!(sse.session.as_deref(), Some(session.as_str()));
        assert_eq!(sse.y.text(), "a<0><1><2>.!?");
    }
}
