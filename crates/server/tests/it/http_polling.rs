//! Long polling end to end: nothing lost or duplicated whatever the batches and retries, a
//! held poll that returns on news or after its timeout, and leaving a session at once.

use std::time::{Duration, Instant};

use crate::kit::{
    peer::{removed, sees},
    *,
};

/// Every relayed update reaches the poller exactly once, whatever the batch boundaries,
/// and every answer is "lost" once: the poller asks again with the same cursor and must
/// get the same messages (plus, in some rounds, news that arrived in between).
#[tokio::test]
async fn long_polling_loses_and_duplicates_nothing() {
    let server = start(&[]).await;
    let mut poll = PollClient::connect(&server, "lp").await;
    let mut ws = Client::connect(&server.ws("lp")).await;
    const ROUNDS: usize = 12;
    const PER_ROUND: usize = 25;
    let mut written = 0usize;
    let mut polls = 0usize;
    let mut retried = 0usize;
    let mut replayed = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for round in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            ws.append(&format!("<{written}>")).await;
            written += 1;
        }
        while poll.y.received_updates < written {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {written} updates arrived",
                poll.y.received_updates
            );
            // Held (no timeout), short and immediate GETs in turn; news is always on its
            // way here, so a held GET returns with it.
            let timeout = [None, Some(2.0), Some(0.0)][polls % 3];
            polls += 1;
            let (status, first) = poll.get(poll.cursor, timeout).await;
            assert_eq!(status, 200);
            let first = first.unwrap();
            if first.messages.is_empty() {
                assert_eq!(first.cursor, poll.cursor, "an empty batch keeps the cursor");
                continue;
            }
            assert!(
                first.cursor >= poll.cursor + first.messages.len() as u64,
                "cursor must move past the batch"
            );
            // The answer is lost: ask again from the same cursor. In odd rounds one more
            // update is sent first, and the retry is repeated until it shows up after the
            // messages already returned.
            let want_more = round % 2 == 1;
            if want_more {
                ws.append(&format!("<{written}>")).await;
                written += 1;
            }
            let retry_deadline = tokio::time::Instant::now() + WAIT;
            let again = loop {
                let (status, again) = poll.get(poll.cursor, Some(0.0)).await;
                assert_eq!(status, 200);
                let again = again.unwrap();
                retried += 1;
                assert!(again.cursor >= first.cursor);
                assert_eq!(
                    &again.messages[..first.messages.len()],
                    &first.messages[..],
                    "a retried GET returned different messages"
                );
                if !want_more || again.messages.len() > first.messages.len() {
                    break again;
                }
                assert!(
                    tokio::time::Instant::now() < retry_deadline,
                    "news never appeared after the retried messages"
                );
            };
            if again.messages.len() == first.messages.len() {
                // Nothing new: the retry is the lost answer itself, cursor and all.
                assert_eq!(
                    again.cursor, first.cursor,
                    "a replayed batch moved the cursor"
                );
                replayed += 1;
            }
            poll.handle(again).await;
        }
        ws.pump_until(|c| c.received_updates >= written, WAIT).await;
    }
    // Both kinds of retry happened: one answered with the very batch that was lost (the
    // growing kind is forced in odd rounds by the loop above).
    assert!(
        replayed >= 1,
        "no retry replayed its lost batch ({retried} retries)"
    );

    // No duplicates: a marker sent after everything arrives, and nothing else did.
    ws.append("<end>").await;
    written += 1;
    poll.pump_until(|c| c.y.text().ends_with("<end>"), WAIT)
        .await;
    assert_eq!(poll.y.received_updates, written, "duplicates arrived");
    let text = poll.y.text();
    assert_eq!(text, ws.text());
    for i in 0..written - 1 {
        assert_eq!(text.matches(&format!("<{i}>")).count(), 1, "token {i}");
    }

    // Acknowledged messages are gone: once a GET carries the latest cursor, an old
    // cursor no longer replays them.
    let (status, batch) = poll.get(poll.cursor, Some(0.0)).await;
    assert_eq!(status, 200);
    assert!(
        batch.unwrap().messages.is_empty(),
        "nothing after the marker"
    );
    let (status, batch) = poll.get(0, Some(0.0)).await;
    assert_eq!(status, 200);
    assert!(batch.unwrap().messages.is_empty());
}

#[tokio::test]
async fn held_poll_returns_on_news_or_after_timeout() {
    let server = start(&[]).await;
    let mut poll = PollClient::connect(&server, "hold").await;
    let mut ws = Client::connect(&server.ws("hold")).await;
    // A marker: once it is in, everything the joins produced is in too.
    ws.append("a").await;
    poll.pump_until(|c| c.y.text() == "a", WAIT).await;

    // Nothing new: an empty list, the cursor unchanged, once the requested time passed.
    let t = Instant::now();
    let (status, batch) = poll.get(poll.cursor, Some(0.5)).await;
    assert_eq!(status, 200);
    let batch = batch.unwrap();
    assert!(batch.messages.is_empty(), "{batch:?}");
    assert_eq!(batch.cursor, poll.cursor);
    // A lower bound the server promises, not a speed: it never answers before the timeout.
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    // Held without a timeout: it returns with the news. Leave one message unacknowledged
    // (`old` still points before it) so we can tell when the held GET has reached the
    // server: its cursor acknowledges that message, and a GET from `old` then finds it gone.
    ws.append("b").await;
    let old = poll.cursor;
    let (status, pending) = poll.get(old, Some(WAIT.as_secs_f64())).await;
    assert_eq!(status, 200);
    let pending = pending.unwrap();
    assert!(!pending.messages.is_empty());
    let held_url = format!("{}?cursor={}", poll.url(), pending.cursor);
    let http = poll.http.clone();
    let held = tokio::spawn(async move { http.get(held_url).send().await.unwrap() });
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, batch) = poll.get(old, Some(0.0)).await;
        assert_eq!(status, 200);
        if batch.unwrap().messages.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the held GET never reached the server"
        );
    }
    ws.append("c").await;
    let res = held.await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    let messages = v["messages"].as_array().unwrap();
    assert!(
        !messages.is_empty(),
        "the held GET returned without the news: {v}"
    );
    assert!(v["cursor"].as_u64().unwrap() > pending.cursor);
    poll.handle(pending).await;
    poll.pump_until(|c| c.y.text() == "abc", WAIT).await;
}

/// `DELETE /poll/{doc}/{session}`: the client leaves at once (its cursor disappears for the
/// others without waiting for expiry) and the session is gone.
#[tokio::test]
async fn leaving_a_poll_session_ends_it_at_once() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("leave")).await;
    let mut poll = PollClient::connect(&server, "leave").await;
    poll.set_awareness(r#"{"user":{"name":"leaver"}}"#).await;
    let id = poll.y.client_id();
    ws.pump_until(|c| sees(&c.peers, id, "leaver"), WAIT).await;

    assert_eq!(poll.leave().await, 204);
    ws.pump_until(|c| removed(&c.peers, id), WAIT).await;
    let (status, _) = poll.get(poll.cursor, Some(0.0)).await;
    assert_eq!(status, 410);
    expect_error(poll.post(poll.y.step1()).await, 410).await;
    let res = poll.http.delete(poll.url()).send().await.unwrap();
    expect_error(res, 410).await;
    // The room carries on for the others.
    ws.append("still here").await;
    ws.pump_until(|c| c.text() == "still here", WAIT).await;
}
