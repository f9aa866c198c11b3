//! SSE and polling sessions whose client went away without saying so: they expire after the
//! idle limit, and their awareness goes with them.

use crate::kit::{
    peer::{removed, sees},
    *,
};

/// Waits until a poll session opened now, which stops polling at once, has expired: then
/// more than the idle limit has passed for every session opened before it. Polls `keep`
/// meanwhile (each poll must succeed) and hands it back.
async fn outlive_a_quitter(
    server: &TestServer,
    ws: &mut Client,
    doc: &str,
    keep: Option<PollClient>,
) -> Option<PollClient> {
    let mut quitter = PollClient::connect(server, doc).await;
    quitter
        .set_awareness(r#"{"user":{"name":"quitter"}}"#)
        .await;
    let qid = quitter.y.client_id();
    ws.pump_until(|c| sees(&c.peers, qid, "quitter"), WAIT)
        .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = keep.map(|mut keep| {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                keep.poll(Some(0.3)).await;
            }
            keep
        })
    });
    ws.pump_until(|c| removed(&c.peers, qid), WAIT).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, _) = quitter.get(quitter.cursor, Some(0.0)).await;
    assert_eq!(status, 410, "the quitter's session outlived its removal");
    match keeper {
        Some(k) => Some(k.await.expect("a polling session expired")),
        None => None,
    }
}

#[tokio::test]
async fn idle_poll_session_expires_and_its_awareness_goes() {
    let server = start(&["--session-idle-secs", "1"]).await;
    let mut ws = Client::connect(&server.ws("exp")).await;
    let mut poll = PollClient::connect(&server, "exp").await;
    poll.set_awareness(r#"{"user":{"name":"poller"}}"#).await;
    let id = poll.y.client_id();
    ws.pump_until(|c| sees(&c.peers, id, "poller"), WAIT).await;

    // While it keeps polling the session lives past the idle limit: a later session that
    // stopped has expired, this one still takes messages and its cursor is still shown.
    let mut poll = outlive_a_quitter(&server, &mut ws, "exp", Some(poll))
        .await
        .unwrap();
    poll.set_awareness(r#"{"user":{"name":"poller-2"}}"#).await;
    ws.pump_until(|c| sees(&c.peers, id, "poller-2"), WAIT)
        .await;

    // It stops polling: the awareness is removed for the others, the session is gone.
    ws.pump_until(|c| removed(&c.peers, id), WAIT).await;
    let (status, _) = poll.get(poll.cursor, Some(0.1)).await;
    assert_eq!(status, 410);
    expect_error(poll.post(poll.y.step1()).await, 410).await;
}

#[tokio::test]
async fn abandoned_sse_session_expires_and_its_awareness_goes() {
    let server = start(&["--session-idle-secs", "1"]).await;
    let mut ws = Client::connect(&server.ws("exp-sse")).await;
    let mut sse = SseClient::connect(&server, "exp-sse").await;
    sse.set_awareness(r#"{"user":{"name":"streamer"}}"#).await;
    let id = sse.y.client_id();
    ws.pump_until(|c| sees(&c.peers, id, "streamer"), WAIT)
        .await;

    // An open (quiet) stream keeps the session alive past the idle limit.
    outlive_a_quitter(&server, &mut ws, "exp-sse", None).await;
    sse.set_awareness(r#"{"user":{"name":"streamer-2"}}"#).await;
    ws.pump_until(|c| sees(&c.peers, id, "streamer-2"), WAIT)
        .await;
    sse.pump_until(|c| sees(&c.y.peers, id, "streamer-2"), WAIT)
        .await;
    let last = sse.last_id.clone().unwrap();
    let session = sse.session.clone().unwrap();

    // The stream drops and is not resumed.
    sse.disconnect();
    ws.pump_until(|c| removed(&c.peers, id), WAIT).await;
    expect_error(sse.post(sse.y.step1()).await, 410).await;
    // Resuming now is too late: a fresh session.
    sse.reconnect(Some(&last)).await.unwrap();
    assert!(sse.step(WAIT).await);
    assert_eq!(sse.events[0].event, "session");
    assert_ne!(sse.session.as_deref(), Some(session.as_str()));
}
